#!/usr/bin/env bash
# What a browser does in the docs' flows, for the doc tests (test/docs.test.ts): opens an
# authorization URL, signs in on the login page, answers the consent page, and prints the
# Location the server finally sends the browser to (the client's redirect URI with code or
# token), or the status of the last page when the flow ends on one (the device page). Usage: doctest-browser.sh URL [USERNAME] [PASSWORD] [allow|deny]
# The cookie jar ($DOCTEST_JAR, default ./cookies.txt) keeps the session between calls.
set -euo pipefail
url=$1 user=${2:-alice} pass=${3:-correct horse battery} decision=${4:-allow}
jar=${DOCTEST_JAR:-./cookies.txt}
base=$(printf %s "$url" | sed -E 's#^(https?://[^/]+).*#\1#')
unescape() { sed -e 's/&amp;/\&/g' -e 's/&#x2F;/\//g' -e 's/&#47;/\//g' -e 's/&quot;/"/g' -e "s/&#39;/'/g" -e "s/&#x27;/'/g"; }
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" <<<"$page" | head -1 | sed -E 's/.*value="([^"]*)"/\1/' | unescape; }
page=$(curl -s -c "$jar" -b "$jar" -D /dev/stderr -o /dev/stdout "$url" 2>"$jar.h") || true
for _ in 1 2 3 4 5 6 7 8 9 10; do
  status=$(head -1 "$jar.h" | awk '{print $2}')
  location=$(grep -i '^location:' "$jar.h" | head -1 | sed -E 's/^[Ll]ocation: *//' | tr -d '\r' || true)
  if [[ $status == 3* ]]; then
    [[ $location == /* ]] && location=$base$location
    if [[ $location == "$base"/* ]]; then
      page=$(curl -s -c "$jar" -b "$jar" -D /dev/stderr -o /dev/stdout "$location" 2>"$jar.h") || true
      continue
    fi
    printf '%s\n' "$location"; rm -f "$jar.h"; exit 0
  fi
  action=$(grep -o '<form method="post" action="[^"]*"' <<<"$page" | head -1 | sed -E 's/.*action="([^"]*)"/\1/' | unescape)
  if [[ -z $action ]]; then
    # A page without a form that is not an error: the end of the flow (the device page's "Device connected").
    [[ $status == 2* ]] && { echo "$status"; rm -f "$jar.h"; exit 0; }
    echo "doctest-browser: no form on the page (status $status): $page" >&2; exit 1
  fi
  [[ $action == /* ]] && action=$base$action
  if grep -q 'name="password"' <<<"$page"; then
    data=(--data-urlencode "username=$user" --data-urlencode "password=$pass")
  elif grep -q 'name="decision"' <<<"$page"; then
    data=(--data-urlencode "decision=$decision")
  elif grep -q 'name="user_code"' <<<"$page"; then
    data=(--data-urlencode "user_code=${DOCTEST_USER_CODE:-$(field user_code)}")
  else
    echo "doctest-browser: neither a login nor a consent page (status $status): $page" >&2; exit 1
  fi
  for f in interaction csrf; do v=$(field $f); [[ -n $v ]] && data+=(--data-urlencode "$f=$v"); done
  page=$(curl -s -c "$jar" -b "$jar" -D /dev/stderr -o /dev/stdout "${data[@]}" "$action" 2>"$jar.h") || true
done
echo "doctest-browser: too many steps" >&2; exit 1
