/** A tenant's dynamic client registration settings as the CLI and the admin API show them by default: off. */
export const DCR_OFF = {
  enabled: false, open: false, grant_types: ['authorization_code', 'refresh_token'],
  allow_consent_skip: false, allow_web_page: false, allow_password: false, allow_token_exchange: false, scopes: [],
};
