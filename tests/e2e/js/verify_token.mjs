// Verify a WireSocket access token exactly as a Node resource server would, with npm `jose`:
// the live JWKS through createRemoteJWKSet, then jwtVerify pinning issuer, audience and RS256.
// Usage: node verify_token.mjs <token> <jwks_url> <issuer> <audience>
// Prints the verified payload and protected header as JSON; exits 1 on any verification failure.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [token, jwksUrl, issuer, audience] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    algorithms: ["RS256"],
    clockTolerance: 60,
  });
  process.stdout.write(JSON.stringify({ payload, protectedHeader }) + "\n");
} catch (err) {
  process.stderr.write(`${err.code ?? err.name}: ${err.message}\n`);
  process.exit(1);
}
