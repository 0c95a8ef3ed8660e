// A real OAuth 2.0 / OpenID provider (panva's oidc-provider, pinned in
// package-lock.json) for the e2e tests, as the upstream of provider=oauth2.
//
//   node server.mjs <node_modules parent dir>
//
// Environment: OIDC_PORT (required), OIDC_REDIRECT_URI (Vault's callback),
// OIDC_SECRETS (JSON {"cc-basic","cc-post","web","tv"}: each client's secret),
// OIDC_JWT_CLIENTS (optional JSON {client_id: JWKS}: client-credentials
// clients that authenticate with private_key_jwt, each with the JWKS Vault
// serves at config/<name>/jwks).
// Prints one line "listening <issuer>" on stdout when it serves; the
// process ends on SIGTERM or when stdin closes.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node server.mjs <dir holding node_modules/oidc-provider>');
  process.exit(2);
}
const entry = createRequire(join(dir, 'package.json')).resolve('oidc-provider');
const { Provider } = await import(pathToFileURL(entry).href);

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const secrets = JSON.parse(process.env.OIDC_SECRETS);
const jwtClients = Object.entries(JSON.parse(process.env.OIDC_JWT_CLIENTS || 'null') ?? {}).map(([id, jwks]) => ({
  // client credentials, authenticated by a signed JWT (RFC 7523 §2.2)
  client_id: id,
  token_endpoint_auth_method: 'private_key_jwt',
  jwks,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  scope: 'api:read api:write',
}));

const provider = new Provider(issuer, {
  clients: [
    {
      // client credentials, secret in HTTP Basic (form-encoded, RFC 6749 §2.3.1)
      client_id: 'cc-basic',
      client_secret: secrets['cc-basic'],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api:read api:write',
    },
    {
      // client credentials, secret in the form body
      client_id: 'cc-post',
      client_secret: secrets['cc-post'],
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api:read api:write',
    },
    {
      // a user's authorization: code + PKCE, then rotating refresh tokens
      client_id: 'web',
      client_secret: secrets.web,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [process.env.OIDC_REDIRECT_URI],
      scope: 'openid offline_access',
    },
    {
      // a user's authorization through the device grant (RFC 8628), for a
      // browser that cannot reach Vault: then rotating refresh tokens
      client_id: 'tv',
      client_secret: secrets.tv,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
      scope: 'openid offline_access',
    },
    ...jwtClients,
  ],
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  features: {
    // login and consent forms that take any login and password
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // RFC 8628: /device/auth, and the user code pages at /device
    deviceFlow: { enabled: true },
  },
  pkce: { required: () => true },
  // Every refresh rotates: a rotated refresh token presented again makes
  // oidc-provider revoke the whole grant. Refresh tokens issue as by
  // default: for offline_access, which needs prompt=consent (OpenID
  // Connect Core §11).
  rotateRefreshToken: true,
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  cookies: { keys: ['e2e-only-cookie-key'] },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    DeviceCode: 600,
    Grant: 3600,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
  },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test holds stdin open: if it dies, so does this server.
process.stdin.on('end', stop);
process.stdin.resume();
