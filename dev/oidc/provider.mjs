// A real OpenID provider for Streamdesk's single sign-on tests: oidc-provider (a certified
// implementation) with the clients and accounts the tests give it, and its development login and
// consent pages (any password signs in as the account named by the login field).
//
// POST /test-control (JSON) lets a test change the accounts (their groups) and make the token
// endpoint hand out a doctored ID token, to show that Streamdesk refuses it:
//   {"accounts": {...}}                  replace the accounts
//   {"tamper": "foreign-key"}            the ID token re-signed by another key (same kid)
//   {"tamper": "nonce" | "audience" | "expired" | "issuer"}   one claim changed, our own key
//   {"tamper": "userinfo"}               the scope claims only from userinfo, as OIDC Core 5.4 has it
//   {"tamper": "userinfo-other-sub"}     ... and userinfo naming another subject
//   {"tamper": null}                     honest again
import { createServer } from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_TEST_PORT);
const setup = JSON.parse(process.env.OIDC_TEST_SETUP);
const issuer = `http://127.0.0.1:${port}`;
const KID = 'streamdesk-test';
const SCOPE_CLAIMS = ['name', 'preferred_username', 'groups', 'email', 'email_verified'];

let accounts = setup.accounts;
let tamper = null;

async function signingKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  return privateKey;
}

const ownKey = await signingKey();
const foreignKey = await signingKey();
const ownJwk = { ...(await jose.exportJWK(ownKey)), kid: KID, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: setup.clients,
  jwks: { keys: [ownJwk] },
  cookies: { keys: ['streamdesk-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email', 'email_verified'],
  },
  // Scope claims in the ID token too, as most identity providers put them there.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
});

async function doctored(idToken) {
  const claims = jose.decodeJwt(idToken);
  let key = ownKey;
  const now = Math.floor(Date.now() / 1000);
  if (tamper === 'foreign-key') key = foreignKey;
  else if (tamper === 'nonce') claims.nonce = 'not-the-nonce-that-was-sent';
  // For another client, with ours named as the authorized party: only the audience check refuses it.
  else if (tamper === 'audience') Object.assign(claims, { aud: 'another-client', azp: claims.aud });
  else if (tamper === 'issuer') claims.iss = 'http://127.0.0.1:1/';
  else if (tamper === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  else if (tamper.startsWith('userinfo')) SCOPE_CLAIMS.forEach((name) => delete claims[name]);
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' }).sign(key);
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/test-control' && ctx.method === 'POST') {
    const body = await readJson(ctx.req);
    if ('accounts' in body) accounts = body.accounts;
    if ('tamper' in body) tamper = body.tamper;
    ctx.body = { accounts: Object.keys(accounts), tamper };
    return;
  }
  await next();
  if (tamper && ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await doctored(ctx.body.id_token) };
  }
  if (tamper === 'userinfo-other-sub' && ctx.path === '/me' && ctx.status === 200 && ctx.body) {
    ctx.body = { ...ctx.body, sub: 'someone-else' };
  }
});

createServer(provider.callback()).listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
