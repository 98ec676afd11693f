// A portal developer's first script, written against the types that
// openapi-typescript generates from openapi/openapi.json and run with
// openapi-fetch. `tsc --strict` must accept it as it is: a loose spec (untyped
// objects, plain strings where the server has an enum) shows up here first.
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

type Event = components["schemas"]["Event"];
type Problem = components["schemas"]["Problem"];

const base = process.env.TICWEEK;
if (!base) throw new Error("TICWEEK (the server's base URL) is not set");
const api = createClient<paths>({ baseUrl: base });

function ok<T>(what: string, reply: { data?: T; error?: unknown; response: Response }): T {
  if (reply.data === undefined) {
    throw new Error(`${what}: HTTP ${reply.response.status} ${JSON.stringify(reply.error)}`);
  }
  return reply.data;
}

// 1. A province's events for a year, following the cursor to the end; the
//    facet on the first page says how many there are.
async function provinceYear(region: string, year: number): Promise<Event[]> {
  const query = { region, from: `${year}-01-01`, to: `${year}-12-31`, limit: 3 };
  const first = ok("events", await api.GET("/api/v1/events", { params: { query: { ...query, facets: "year" } } }));
  const expected = (first.facets?.["year"] ?? []).reduce((sum, f) => sum + f.count, 0);
  const events = [...first.items];
  let cursor = first.next_cursor;
  let pages = 1;
  while (cursor) {
    const page = ok("events page", await api.GET("/api/v1/events", { params: { query: { ...query, cursor } } }));
    events.push(...page.items);
    cursor = page.next_cursor;
    pages += 1;
  }
  assert.ok(pages > 1, "three per page must take more than one page");
  assert.equal(events.length, expected, "walking the cursor finds what the facet counts");
  assert.equal(new Set(events.map((e) => e.id)).size, events.length, "no event twice");
  for (const e of events) {
    assert.ok(e.region.adcode.startsWith(region.slice(0, 2)), `${e.id} is in ${region}`);
    assert.match(e.starts_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/, "Asia/Shanghai with its offset");
  }
  console.log(`events: ${events.length} in ${region} in ${year}, ${pages} pages`);
  return events;
}

// 2. Open days near a point, on AMap (GCJ-02), closest first.
async function nearby(): Promise<void> {
  const days = ok("open days", await api.GET("/api/v1/open-days", {
    params: { query: { near: "28.68,115.87", radius_km: 30, coord_sys: "gcj02" } },
  }));
  assert.ok(days.items.length > 0, "the fixture's Nanchang lab has upcoming open days");
  let last = 0;
  for (const day of days.items) {
    const km = day.distance_km ?? Number.NaN;
    assert.ok(km >= last && km <= 30, `distance ${km} in order and inside the radius`);
    last = km;
    assert.ok(day.lab.name.length > 0);
  }
  const first = days.items[0]!;
  console.log(`open days: ${days.items.length} within 30 km; first ${first.lab.name} at ${first.distance_km} km, bookable ${first.bookable}`);
}

// 3. A certificate looked up as a person types it, and one of its organic codes.
async function certificate(): Promise<void> {
  const list = ok("products", await api.GET("/api/v1/products", {
    params: { query: { scheme: "organic", status: "valid", limit: 20 } },
  }));
  const cert = list.items.find((p) => p.organic_codes.length > 0);
  assert.ok(cert, "a valid organic certificate with organic codes");
  const typed = ` ${cert.certificate_no.toLowerCase()} `;
  const found = ok("certificate", await api.GET("/api/v1/products/{certificate_no}", {
    params: { path: { certificate_no: typed } },
  }));
  assert.equal(found.certificate_no, cert.certificate_no);
  assert.equal(found.status, "valid");
  const code = cert.organic_codes[0]!.first;
  const check = ok("organic code", await api.GET("/api/v1/organic-codes/{code}", { params: { path: { code } } }));
  assert.equal(check.certificate.certificate_no, cert.certificate_no);
  console.log(`certificate: ${found.certificate_no} (${found.holder.name}) ${found.status}; code ${code} → ${check.layout}`);
}

// 4. A poster, downloaded and checked against the SHA-256 the API lists.
async function poster(): Promise<void> {
  const posters = ok("posters", await api.GET("/api/v1/posters", { params: { query: { kind: "organic_week" } } }));
  const p = posters.items.find((x) => x.id === "clients-poster");
  assert.ok(p, "the uploaded poster is listed");
  const png = p.files.find((f) => f.variant === "png");
  assert.ok(png);
  const { data, response } = await api.GET("/api/v1/posters/{id}/file", {
    params: { path: { id: p.id }, query: { format: "png" } },
    parseAs: "arrayBuffer",
  });
  assert.equal(response.status, 200);
  assert.ok(data instanceof ArrayBuffer);
  const sha = createHash("sha256").update(Buffer.from(data)).digest("hex");
  assert.equal(sha, png.sha256, "the bytes are the listed file");
  assert.equal(response.headers.get("etag"), `"${png.sha256}"`);
  console.log(`poster: ${p.title}, ${data.byteLength} bytes, sha256 ok`);
}

// 5. Bad input comes back as a typed problem naming the parameter.
async function badInput(): Promise<void> {
  const { error, response } = await api.GET("/api/v1/open-days", { params: { query: { near: "91,0" } } });
  assert.equal(response.status, 400);
  const problem: Problem | undefined = error;
  assert.equal(problem?.errors?.[0]?.field, "near");
  console.log(`bad input: 400 ${problem?.title}: ${problem?.errors?.[0]?.message}`);
}

// 6. A bureau's correction with its token: a merge patch typed by the
//    generated `EventPatch` (a bare `object` in the spec typed as "no fields"),
//    guarded by the ETag just read.
async function correct(): Promise<void> {
  const token = process.env.TICWEEK_TOKEN;
  assert.ok(token, "TICWEEK_TOKEN is set");
  const id = "clients-event-2";
  const read = await api.GET("/api/v1/events/{id}", { params: { path: { id } } });
  const before = ok("event", read);
  const etag = read.response.headers.get("etag") ?? undefined;
  const title = `${before.title}（更正）`;
  const after = ok("patch", await api.PATCH("/api/v1/events/{id}", {
    params: { path: { id }, header: { "If-Match": etag } },
    body: { title, organizer: null },
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/merge-patch+json" },
  }));
  assert.equal(after.title, title);
  assert.equal(after.organizer, null, "null removes an optional field");
  assert.equal(after.starts_at, before.starts_at, "the rest is unchanged");
  const stale = await api.PATCH("/api/v1/events/{id}", {
    params: { path: { id }, header: { "If-Match": etag } },
    body: { title: before.title },
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/merge-patch+json" },
  });
  assert.equal(stale.response.status, 412, "the old ETag no longer matches");
  console.log(`correction: ${id} retitled through PATCH; a second PATCH with the old ETag → 412`);
}

await provinceYear("360000", 2022);
await nearby();
await certificate();
await poster();
await badInput();
await correct();
console.log("portal journey (TypeScript): ok");
