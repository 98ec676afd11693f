// The embeddable widget on a plain portal page, in headless Chromium with the
// network closed: a page on another origin (a second port, served by this
// test) includes /embed/events.js twice with one <script> tag each;
// the items must be the API's, in its order, in an accessible structure, in
// the page's font, and the page must request nothing but the API.
// Screenshot: target/clients/widget.png.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { api, openPage, shots } from "./browser.mjs";

// The portal: another origin (a loopback one, as the API is: Chromium refuses
// a public page loading from loopback, which a deployed API never is).
const server = createServer((req, res) => {
  res.writeHead(req.url === "/" ? 200 : 404, { "Content-Type": "text/html; charset=utf-8" });
  res.end(req.url === "/" ? page_html : "");
});
await new Promise((ready) => server.listen(0, "127.0.0.1", ready));
const portal = `http://127.0.0.1:${server.address().port}`;
const page_html = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>江西省市场监督管理局 · 质量月</title>
<style>body { font-family: "Portal Serif", serif; font-size: 17px; color: #222; max-width: 44em; margin: 2em auto; }</style>
</head><body><main>
<h1>2026 年质量月</h1>
<p>本省近期的质量月活动与检验检测机构开放日：</p>
<script src="${api}/embed/events.js" data-region="360000" data-kind="lab_open_day" data-limit="10"
        data-href="${portal}/events/{id}"></script>
<div id="organic"></div>
<script src="${api}/embed/events.js" data-region="360000" data-kind="organic_week" data-target="#organic"></script>
</main></body></html>`;

async function apiItems(path, query) {
  const reply = await fetch(`${api}/api/v1/${path}?${new URLSearchParams(query)}`);
  assert.equal(reply.status, 200, path);
  return (await reply.json()).items;
}

const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
const { browser, page, blocked, errors } = await openPage([api, portal]);
try {
  await page.goto(`${portal}/`);
  const widgets = page.locator("section.ticweek-widget");
  await assert.doesNotReject(page.waitForFunction(() =>
    document.querySelectorAll('section.ticweek-widget[aria-busy="false"]').length === 2, null, { timeout: 15000 }));
  assert.equal(await widgets.count(), 2, "one widget per script tag");

  // The items are the API's, in the API's order.
  const first = widgets.nth(0);
  const lists = first.locator("ul.ticweek-list");
  assert.equal(await lists.count(), 2, "events and open days");
  const shownEvents = await lists.nth(0).locator("li").evaluateAll((lis) => lis.map((li) => li.dataset.id));
  const events = await apiItems("events", { region: "360000", kind: "lab_open_day", from: today, limit: "10" });
  assert.ok(events.length > 0, "the fixture has upcoming open-day events");
  assert.deepEqual(shownEvents, events.map((e) => e.id));
  const shownDays = await lists.nth(1).locator("li").evaluateAll((lis) => lis.map((li) => li.dataset.id));
  const days = await apiItems("open-days", { region: "360000", limit: "10" });
  assert.ok(days.length > 0);
  assert.deepEqual(shownDays, days.map((d) => d.id));
  const organic = await widgets.nth(1).locator("li").evaluateAll((lis) => lis.map((li) => li.dataset.id));
  const organicEvents = await apiItems("events", { region: "360000", kind: "organic_week", from: today, limit: "5" });
  assert.deepEqual(organic, organicEvents.map((e) => e.id));
  assert.equal(await widgets.nth(1).locator("ul").count(), 1, "no open days under another campaign kind");
  assert.equal(await page.locator("#organic > section.ticweek-widget").count(), 1, "data-target is honoured");

  // What a reader sees: the title, Chinese dates in Asia/Shanghai (the
  // browser runs in New York), the city.
  const e0 = events[0];
  const item = lists.nth(0).locator("li").first();
  const text = await item.innerText();
  assert.ok(text.includes(e0.title), text);
  assert.ok(text.includes("月") && text.includes("日"), "a Chinese date");
  assert.ok(text.includes(e0.region.name), "the city");
  const startHour = e0.starts_at.slice(11, 16);
  assert.ok(text.includes(startHour), `the Shanghai start time ${startHour} in ${text}`);
  assert.equal(await item.locator("time").getAttribute("datetime"), e0.starts_at);

  // Accessible: a labelled section, headed lists, named links, keyboard.
  const label = await first.getAttribute("aria-labelledby");
  assert.equal(await page.locator(`#${label}`).evaluate((h) => h.tagName), "H2");
  const listLabel = await lists.nth(0).getAttribute("aria-labelledby");
  assert.equal(await page.locator(`#${listLabel}`).innerText(), "近期活动");
  const eventLink = item.locator("a");
  assert.equal(await eventLink.getAttribute("href"), `${portal}/events/${encodeURIComponent(e0.id)}`);
  const book = first.locator('a[aria-label^="预约："]').first();
  assert.ok(await book.count(), "a booking link named for the lab and day");
  await page.locator("body").click({ position: { x: 1, y: 1 } });
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.closest(".ticweek-widget") !== null);
  assert.ok(focused, "Tab reaches the widget's first link");

  // Styled by the page: the font is inherited, not set.
  const fonts = await page.evaluate(() => [getComputedStyle(document.body).fontFamily,
    getComputedStyle(document.querySelector(".ticweek-title")).fontFamily]);
  assert.equal(fonts[1], fonts[0], "the widget inherits the page's font");

  // Text is text: a title with markup in it is shown, not parsed.
  assert.equal(await page.locator(".ticweek-widget b").count(), 0);
  assert.ok((await widgets.nth(1).innerText()).includes("<b>答疑</b>"), "the markup is shown as written");
  assert.equal(await first.locator('[role="status"]').innerText(), `已加载 ${shownEvents.length + shownDays.length} 项`);

  await page.screenshot({ path: `${shots}widget.png`, fullPage: true });
  assert.deepEqual(blocked, [], "the widget requests nothing but the API");
  assert.deepEqual(errors, [], "no script errors");
  console.log(`widget: ${shownEvents.length} events and ${shownDays.length} open days as the API lists them, ${organic.length} organic-week events; screenshot ${shots}widget.png`);
} catch (e) {
  console.error("blocked:", blocked, "\nscript errors:", errors);
  await page.screenshot({ path: `${shots}widget-failed.png`, fullPage: true }).catch(() => {});
  throw e;
} finally {
  await browser.close();
  server.close();
}
