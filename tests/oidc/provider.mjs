// A real OpenID Connect provider (the oidc-provider package) for the single sign-on tests, set up
// like ProConnect: authorization code flow with PKCE (S256) required, a confidential client
// (client_secret_post), the claims ProConnect gives (email, given_name, usual_name, uid, siret)
// served by the userinfo endpoint as a signed JWT, and RP-initiated logout.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"port": N, "client": {"client_id", "client_secret", "redirect_uris": [...],
//          "post_logout_redirect_uris": [...]}, "accounts": {"<login>": {claims…}}}
// The login typed on the provider's login page (any password) picks the account; an unknown login
// signs in with no e-mail. Prints one line "ISSUER <url>" once it listens.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const people = config.accounts || {};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

const claims = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  given_name: ['given_name'],
  usual_name: ['usual_name'],
  uid: ['uid'],
  siret: ['siret'],
};

function start(port) {
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      userinfo_signed_response_alg: 'RS256',
      ...config.client,
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims,
    scopes: Object.keys(claims),
    features: {
      devInteractions: { enabled: true },
      jwtUserinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { methods: ['S256'], required: () => true },
    // ProConnect asks no consent of its agents: the grant is made for what the client asked
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      await grant.save();
      return grant;
    },
    async findAccount(ctx, sub) {
      return { accountId: sub, async claims() { return { sub, ...(people[sub] || {}) }; } };
    },
  });
  provider.listen(port, '127.0.0.1', () => process.stdout.write(`ISSUER ${issuer}\n`));
}

start(config.port);
process.on('SIGTERM', () => process.exit(0));
