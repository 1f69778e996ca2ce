// The basic maintenance recipe, done in the browser as Cherokee's admin did it: clone the
// site's virtual server, set the copy's host names, make its default rule answer 503, check
// it is above the original, Save -> Graceful restart. A download started before the save
// finishes byte-complete; new requests get 503. Then remove the copy: the site is back.
"use strict";
const { test } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const H = require("./harness");

const BIG = 48 * 1024 * 1024;

/** Starts a download and stops reading after the first chunk, so it stays in flight. */
function startDownload(port) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/downloads/big.bin", headers: { Host: "example.com" }, agent: false }, (res) => {
      let bytes = 0;
      let resumeNow;
      const finished = new Promise((done, fail) => {
        res.on("end", () => done(bytes));
        res.on("error", fail);
        res.on("aborted", () => fail(new Error("download aborted")));
      });
      res.once("data", (chunk) => {
        bytes += chunk.length;
        res.pause();
        res.on("data", (c) => { bytes += c.length; });
        resumeNow = () => { res.resume(); return finished; };
        resolve({ status: res.statusCode, headers: res.headers, finish: () => resumeNow() });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

test("maintenance recipe: clone, 503 default rule, above the original, graceful save, then remove", { timeout: 180000 }, async () => {
  const site = await H.startSite({ bigFileBytes: BIG });
  let browser;
  try {
    browser = await H.launch();
    const page = await H.signIn(browser.browser, site);

    // A long download in flight on generation 1.
    const download = await startDownload(site.port);
    assert.equal(download.status, 200);
    assert.equal(Number(download.headers["content-length"]), BIG);

    // 1. Clone: the dialog names the source; the editor opened next names the copy.
    await H.nav(page, "Virtual servers");
    await page.getByRole("button", { name: "Clone example" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("heading", { name: "Clone “example”" }).waitFor();
    await dialog.getByLabel("Nick of the copy").fill("example-maintenance");
    await H.editing(page, () => dialog.getByRole("button", { name: "Clone example" }).click());
    await page.getByRole("heading", { name: "Virtual server “example-maintenance”", level: 1 }).waitFor();

    // 2. Host names of the copy: only example.com (example.org stays with the original).
    await page.getByRole("tab", { name: "Host match" }).click();
    await page.getByRole("heading", { name: "Host match of example-maintenance" }).waitFor();
    const host = page.getByLabel("Host names 1", { exact: true });
    assert.equal(await host.inputValue(), "example.*");
    await H.commit(page, host, "example.com");
    assert.equal(await page.getByLabel("Host names 1", { exact: true }).inputValue(), "example.com");

    // 3. Behavior: remove the /downloads rule of the copy, make its default rule a 503.
    await page.getByRole("tab", { name: "Behavior" }).click();
    await page.getByRole("heading", { name: "Behavior of example-maintenance" }).waitFor();
    await page.getByRole("button", { name: "Remove rule 100 of example-maintenance" }).click();
    await page.getByRole("dialog").getByRole("heading", { name: "Remove rule 100 of “example-maintenance”" }).waitFor();
    await H.editing(page, () => page.getByRole("dialog").getByRole("button", { name: "Remove rule" }).click());
    await page.getByRole("link", { name: "Edit rule 1 of example-maintenance" }).click();
    await page.getByRole("heading", { name: "Rule 1 of “example-maintenance”: everything (default)" }).waitFor();
    await H.editing(page, () => page.getByLabel("Handler", { exact: true }).selectOption("custom_error"));
    await H.editing(page, () => page.getByLabel("Status answered").selectOption("503"));
    await H.screenshot(page, "recipe-rule-503-1280");

    // 4. The copy is above the original in the list; the original is still unchanged.
    await H.nav(page, "Virtual servers");
    const rows = page.locator("#vs-list > li");
    await page.waitForFunction(() => document.querySelectorAll("#vs-list > li").length === 3);
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.dataset.nick)), ["example-maintenance", "example", "default"]);
    await page.getByRole("link", { name: "example", exact: true }).click();
    await page.getByRole("tab", { name: "Behavior" }).click();
    assert.match(await page.locator("#rules tbody").innerText(), /common/);
    assert.doesNotMatch(await page.locator("#rules tbody").innerText(), /custom_error/);

    // 5. Save -> Graceful restart: the dialog shows the diff first.
    await page.locator("#save-open").click();
    const save = page.getByRole("dialog");
    await save.locator("pre.diff").waitFor();
    const diff = await save.locator("pre.diff").innerText();
    assert.match(diff, /\+vserver!\d+!nick = example-maintenance/);
    assert.match(diff, /\+vserver!\d+!rule!1!handler!error = 503/);
    await H.screenshot(page, "save-dialog-1280");
    const saved = page.waitForResponse((r) => r.url().endsWith("/api/save"));
    await save.getByRole("button", { name: "Graceful restart", exact: true }).click();
    const answer = await (await saved).json();
    assert.equal(answer.applied.ok, true, JSON.stringify(answer));
    await save.locator("#save-ok").waitFor();
    assert.match(await save.locator("#save-ok").innerText(), /generation 2 is serving/);
    await save.getByRole("button", { name: "Close" }).click();

    // 6. New requests get 503 (example.com) while example.org is still the live site...
    const r503 = await H.get(site.port, "example.com", "/");
    assert.equal(r503.status, 503);
    const other = await H.get(site.port, "example.org", "/");
    assert.equal(other.status, 200);
    assert.equal(other.body, H.LIVE);
    // ... and the download started before the save completes, byte for byte.
    assert.equal(await download.finish(), BIG);

    // The overview shows the old generation finished and the new one serving.
    await H.nav(page, "Overview");
    await page.locator("#st-generation", { hasText: "2" }).waitFor();

    // 7. Remove the copy (the confirmation names it), save gracefully: the site is back.
    await H.nav(page, "Virtual servers");
    await page.getByRole("button", { name: "Remove example-maintenance" }).click();
    const confirm = page.getByRole("dialog");
    await confirm.getByRole("heading", { name: "Remove “example-maintenance”" }).waitFor();
    assert.match(await confirm.innerText(), /Remove the virtual server example-maintenance/);
    await H.editing(page, () => confirm.getByRole("button", { name: "Remove example-maintenance" }).click());
    const again = await H.saveWith(page, "Graceful restart");
    assert.equal(again.body.applied.ok, true);
    const back = await H.get(site.port, "example.com", "/");
    assert.equal(back.status, 200);
    assert.equal(back.body, H.LIVE);
    assert.deepEqual(page.errors, []);
  } finally {
    if (browser) await browser.close();
    await site.stop();
  }
});
