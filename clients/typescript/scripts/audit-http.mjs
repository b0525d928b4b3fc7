// The GraphQL over HTTP spec's own audit suite (graphql-http's serverAudits)
// against a running service: `node scripts/audit-http.mjs` with QPG_URL (the
// service's base URL) and QPG_TOKEN (a staff token: every HTTP operation of
// this API needs one, so each audit request carries it).
//
// Prints one line per audit and exits 1 on any error (a failed MUST) or
// warning (a failed SHOULD). Notices (failed MAYs) are printed and allowed
// only for the audits named in ALLOWED_NOTICES, each with its reason: any
// other notice fails too, so a change of behaviour is never silent.
import { serverAudits } from "graphql-http";

// GET is not served for operations (docs/architecture.md, "GraphQL over
// HTTP"): these optional audits send queries over GET.
const ALLOWED_NOTICES = new Map([
  ["5A70", "GET requests are not accepted for operations"],
  ["D6D5", "GET requests are not accepted for operations"],
  ["6A70", "GET requests are not accepted for operations"],
]);

const base = process.env.QPG_URL;
const token = process.env.QPG_TOKEN;
if (!base || !token) {
  console.error("set QPG_URL and QPG_TOKEN");
  process.exit(2);
}

function withToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

let failed = 0;
for (const audit of serverAudits({ url: `${base}/graphql`, fetchFn: withToken })) {
  const result = await audit.fn();
  let verdict = result.status;
  if (result.status === "notice" && !ALLOWED_NOTICES.has(result.id)) {
    verdict = "notice (not allowed)";
  }
  const bad = verdict === "error" || verdict === "warn" || verdict === "notice (not allowed)";
  if (bad) failed += 1;
  let detail = "";
  if (result.status !== "ok") {
    detail = ` -- ${result.reason}`;
    if (ALLOWED_NOTICES.has(result.id) && !bad) {
      detail += ` (allowed: ${ALLOWED_NOTICES.get(result.id)})`;
    }
    if (bad && result.response) {
      const body = await result.response.text().catch(() => "");
      detail += `\n      ${result.response.status} ${result.response.headers.get("content-type")} ${body.slice(0, 300)}`;
    }
  }
  console.log(`${verdict.padEnd(8)} ${result.id} ${result.name}${detail}`);
}
console.log(failed ? `${failed} audits failed` : "all audits passed");
process.exit(failed ? 1 : 0);
