// Headless Chromium (Debian's package) driven by playwright-core, with the
// network closed: every request must go to an origin the test allows, and
// anything else is aborted and reported.
import { chromium } from "playwright-core";

export const api = process.env.TICWEEK;
if (!api) throw new Error("TICWEEK (the server's base URL) is not set");
export const shots = new URL("../../target/clients/", import.meta.url).pathname;

// The flags that keep Chromium from calling home on a closed network.
const args = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** Opens a page where only `allowed` origins are reachable; `blocked` collects the rest. */
export async function openPage(allowed) {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args });
  const context = await browser.newContext({ locale: "zh-CN", timezoneId: "America/New_York", viewport: { width: 1280, height: 900 } });
  const blocked = [];
  const errors = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (allowed.some((origin) => url.startsWith(origin))) return route.fallback();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  return { browser, context, page, blocked, errors };
}
