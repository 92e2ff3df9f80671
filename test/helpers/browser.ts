import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { ADMIN_TOKEN } from "./cluster.ts";

/** Debian's chromium, headless; the UI tests skip themselves (loudly, in scripts/test) without it. */
export const CHROMIUM = "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });

/** A fresh browser context holding the admin's login cookie, as the login form would set it. */
export async function adminPage(
  browser: Browser,
  base: string,
  { width = 1280, height = 800, colorScheme = "light" as "light" | "dark", loggedIn = true } = {},
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  if (loggedIn) {
    const { hostname } = new URL(base);
    await context.addCookies([{ name: "drover_token", value: ADMIN_TOKEN, domain: hostname, path: "/", httpOnly: true, sameSite: "Strict" }]);
  }
  return context.newPage();
}
