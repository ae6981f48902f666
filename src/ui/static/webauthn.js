// Passkeys (WebAuthn) on Tessera's pages. A form marked data-webauthn="create" or "get" carries
// the server's options as JSON in data-options; on submit, the browser's authenticator answers
// and the answer goes into the form's hidden "credential" field, which is then posted like any
// form. No inline script and no fetch: the page's CSP allows this file only (script-src nonce).
(function () {
  'use strict';
  var b64 = {
    toBuffer: function (s) {
      var pad = s.replace(/-/g, '+').replace(/_/g, '/');
      while (pad.length % 4) pad += '=';
      var bin = atob(pad);
      var out = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out.buffer;
    },
    fromBuffer: function (buf) {
      var bytes = new Uint8Array(buf);
      var bin = '';
      for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
      return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    },
  };
  var withIds = function (list) {
    return (list || []).map(function (c) { return { id: b64.toBuffer(c.id), type: c.type || 'public-key', transports: c.transports }; });
  };

  function create(options) {
    var publicKey = Object.assign({}, options, {
      challenge: b64.toBuffer(options.challenge),
      user: Object.assign({}, options.user, { id: b64.toBuffer(options.user.id) }),
      excludeCredentials: withIds(options.excludeCredentials),
    });
    return navigator.credentials.create({ publicKey: publicKey }).then(function (cred) {
      var r = cred.response;
      return {
        id: cred.id, rawId: b64.fromBuffer(cred.rawId), type: cred.type,
        authenticatorAttachment: cred.authenticatorAttachment || undefined,
        clientExtensionResults: cred.getClientExtensionResults(),
        response: {
          clientDataJSON: b64.fromBuffer(r.clientDataJSON),
          attestationObject: b64.fromBuffer(r.attestationObject),
          transports: typeof r.getTransports === 'function' ? r.getTransports() : [],
        },
      };
    });
  }

  function get(options) {
    var publicKey = Object.assign({}, options, { challenge: b64.toBuffer(options.challenge), allowCredentials: withIds(options.allowCredentials) });
    return navigator.credentials.get({ publicKey: publicKey }).then(function (cred) {
      var r = cred.response;
      return {
        id: cred.id, rawId: b64.fromBuffer(cred.rawId), type: cred.type,
        authenticatorAttachment: cred.authenticatorAttachment || undefined,
        clientExtensionResults: cred.getClientExtensionResults(),
        response: {
          clientDataJSON: b64.fromBuffer(r.clientDataJSON),
          authenticatorData: b64.fromBuffer(r.authenticatorData),
          signature: b64.fromBuffer(r.signature),
          userHandle: r.userHandle ? b64.fromBuffer(r.userHandle) : undefined,
        },
      };
    });
  }

  function report(form, message) {
    var p = form.querySelector('.webauthn-error');
    if (!p) {
      p = document.createElement('p');
      p.className = 'error webauthn-error';
      p.setAttribute('role', 'alert');
      form.insertBefore(p, form.firstChild);
    }
    p.textContent = message;
  }

  document.querySelectorAll('form[data-webauthn]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (!window.PublicKeyCredential) return report(form, 'This browser does not support passkeys.');
      var options = JSON.parse(form.getAttribute('data-options'));
      var ask = form.getAttribute('data-webauthn') === 'create' ? create : get;
      ask(options).then(function (answer) {
        form.querySelector('input[name="credential"]').value = JSON.stringify(answer);
        form.submit();
      }, function (err) {
        report(form, err && err.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out. Try again.' : 'The passkey could not be used: ' + (err && err.message ? err.message : 'unknown error') + '.');
      });
    });
    // Rendered disabled: usable only now that submitting goes through the authenticator.
    form.querySelectorAll('button[disabled]').forEach(function (b) { b.disabled = false; });
  });
})();
