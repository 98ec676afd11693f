// The interactive docs in a real browser with no network: Swagger UI (vendored,
// served by ticweek) renders every operation of the OpenAPI document, and
// "Try it out" on GET /api/v1/events shows a 200. Screenshots:
// target/clients/docs.png (the page) and target/clients/docs-try-it-out.png.
import assert from "node:assert/strict";
import { api, openPage, shots } from "./browser.mjs";

const spec = await (await fetch(`${api}/openapi.json`)).json();
const methods = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);
const operations = Object.values(spec.paths).flatMap((item) => Object.keys(item).filter((m) => methods.has(m)));

const { browser, page, blocked, errors } = await openPage([api]);
try {
  await page.goto(`${api}/docs/`, { waitUntil: "networkidle" });
  await page.locator(".opblock").first().waitFor();
  const rendered = await page.locator(".opblock").count();
  assert.equal(rendered, operations.length, "every operation of the document is on the page");
  assert.equal(await page.locator(".information-container .title").first().innerText().then((t) => t.startsWith("ticweek")), true);
  await page.screenshot({ path: `${shots}docs.png`, fullPage: false });

  const op = page.locator("#operations-events-list_events");
  await op.locator(".opblock-summary").first().click();
  await op.locator("button.try-out__btn").click();
  await op.locator("button.execute").click();
  const status = op.locator(".live-responses-table tr.response .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  assert.equal((await status.innerText()).trim(), "200", "Try it out answers 200");
  const body = await op.locator(".live-responses-table .microlight, .live-responses-table pre").first().innerText();
  assert.match(body, /"items": \[\s*\{/, "the response body lists events (the parameter examples match together)");
  await op.screenshot({ path: `${shots}docs-try-it-out.png` });

  assert.deepEqual(blocked, [], "the docs page requests nothing outside the server");
  assert.deepEqual(errors, [], "no script errors");
  console.log(`docs: ${rendered} operations rendered; Try it out on GET /api/v1/events → 200; screenshots in ${shots}docs.png, docs-try-it-out.png`);
} finally {
  await browser.close();
}
