/**
 * Pulsoid's real-time heart rate over a WebSocket: `/api/v1/data/real_time`, scope
 * data:heart_rate:read. A browser cannot set `Authorization` on `new WebSocket()`, so the
 * token may come as Pulsoid takes it, `?access_token=TOKEN`, or as a subprotocol,
 * `new WebSocket(url, ['access_token', TOKEN])`; other clients may send the header.
 *
 * The token is checked before the upgrade is accepted: a refused one gets the same HTTP
 * 401/403 as the HTTP API, and no socket. An accepted socket is closed with code 4401 when
 * the token expires: a stream never outlives its authorization.
 */
import { WebSocketServer } from 'ws';
import { closeWhenExpired, rejectUpgrade, selectProtocol, verifyUpgrade } from 'tessera/verify';

export const REALTIME_PATH = '/api/v1/data/real_time';
const TEXT_MODE = 'text_plain_only_heart_rate';

/** Serves the stream on `server`'s upgrade requests. Returns the WebSocket server (to close it). */
export function attachRealtime(server, verifier, store) {
  // The answer names `access_token` when the token came that way (browsers require an offered protocol back), never the token.
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => selectProtocol(offered) });

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://upgrade.invalid');
    if (url.pathname !== REALTIME_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    verifyUpgrade(verifier, req, { scopes: ['data:heart_rate:read'] }).then(
      (token) => wss.handleUpgrade(req, socket, head, (ws) => stream(ws, token, url.searchParams.get('response_mode'), store)),
      (err) => rejectUpgrade(verifier, socket, err),
    );
  });
  return wss;
}

function stream(ws, token, mode, store) {
  const send = (reading) => ws.send(mode === TEXT_MODE ? String(reading.data.heart_rate) : JSON.stringify(reading));
  const unsubscribe = store.subscribe(token.subject, send);
  ws.once('close', unsubscribe);
  closeWhenExpired(ws, token);
}
