// The maintenance switch: one switch plus one confirmation puts a site into maintenance
// (503 with Retry-After, or a static page), staff keep the live site, and the switch takes
// it out again. Also the two variants of the recipe built by hand in the editors: the
// static message (maintenance directory on List & Send plus an internal redirection of
// every URL) and the staff review (an intranet host name on the original).
"use strict";
const { test } = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const H = require("./harness");


/** Confirms the maintenance dialog and waits for the save it makes. */
async function confirmSwitch(page) {
  const saved = page.waitForResponse((r) => r.url().endsWith("/api/save"));
  await page.locator("#m-confirm").click();
  const body = await (await saved).json();
  assert.equal(body.applied.ok, true, JSON.stringify(body));
  await page.getByRole("dialog").waitFor({ state: "hidden" });
  await H.idle(page);
  return body;
}

test("maintenance switch: 503 with Retry-After, staff cookie, then off", { timeout: 120000 }, async () => {
  await H.withSite(async (site, page) => {
    await H.nav(page, "Virtual servers");
    const sw = page.getByRole("switch", { name: "Maintenance of example" });
    assert.equal(await sw.getAttribute("aria-checked"), "false");
    await sw.click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("heading", { name: "Put “example” into maintenance" }).waitFor();
    await dialog.getByLabel("Retry-After (seconds)").fill("120");
    await dialog.getByLabel("Cookie NAME=VALUE").fill("staff=let-me-in");
    await H.screenshot(page, "maintenance-dialog-1280");
    await confirmSwitch(page);

    const r = await H.get(site.port, "example.com", "/news.html");
    assert.equal(r.status, 503);
    assert.equal(r.headers["retry-after"], "120");
    assert.match(r.headers["cache-control"], /^no-store(, no-store)?$/);
    const staff = await H.get(site.port, "example.com", "/", { Cookie: "staff=let-me-in" });
    assert.equal(staff.status, 200);
    assert.equal(staff.body, H.LIVE);

    // The list shows it: the switch is on, the copy is tagged.
    await page.getByRole("switch", { name: "Maintenance of example" }).and(page.locator("[aria-checked=true]")).waitFor();
    assert.match(await page.locator('[data-nick="example-maintenance"]').innerText(), /maintenance copy of example/);
    await H.screenshot(page, "vservers-maintenance-1280");
    await H.nav(page, "Overview");
    assert.match(await page.locator("#maint-h + *").innerText(), /example is in maintenance/);

    // Off: one switch and one confirmation, from the overview.
    await page.getByRole("switch", { name: "Maintenance of example" }).click();
    await page.getByRole("dialog").getByRole("heading", { name: "Take “example” out of maintenance" }).waitFor();
    await confirmSwitch(page);
    const back = await H.get(site.port, "example.com", "/");
    assert.equal(back.status, 200);
    assert.equal(back.body, H.LIVE);
    await page.getByText("No site is in maintenance.").waitFor();
  });
});

test("maintenance switch with a static page", { timeout: 120000 }, async () => {
  await H.withSite(async (site, page) => {
    await H.nav(page, "Virtual servers");
    await page.getByRole("link", { name: "example", exact: true }).click();
    await page.getByRole("switch", { name: "Maintenance of example" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("A static page (served with status 200)").check();
    // Confirming without a directory is explained next to the field, nothing is saved.
    await dialog.locator("#m-confirm").click();
    assert.match(await dialog.locator("#m-error").innerText(), /directory of the page/);
    await dialog.getByLabel("Directory of the page").fill(path.join(site.dir, "page"));
    await confirmSwitch(page);
    for (const url of ["/", "/news.html", "/a/b?c=d"]) {
      const r = await H.get(site.port, "example.com", url);
      assert.equal(r.status, 200, url);
      assert.equal(r.body, H.PAGE, url);
    }
    await page.getByRole("switch", { name: "Maintenance of example" }).and(page.locator("[aria-checked=true]")).waitFor();
    await page.getByRole("switch", { name: "Maintenance of example" }).click();
    await confirmSwitch(page);
    assert.equal((await H.get(site.port, "example.com", "/")).body, H.LIVE);
  });
});

test("static-message variant by hand, then staff review through an intranet host name", { timeout: 120000 }, async () => {
  await H.withSite(async (site, page) => {
    await H.nav(page, "Virtual servers");
    await page.getByRole("button", { name: "Clone example" }).click();
    await page.getByRole("dialog").getByLabel("Nick of the copy").fill("example-static");
    await H.editing(page, () => page.getByRole("dialog").getByRole("button", { name: "Clone example" }).click());
    await page.getByRole("heading", { name: "Virtual server “example-static”", level: 1 }).waitFor();
    await page.getByRole("tab", { name: "Behavior" }).click();

    // Rule 100: the maintenance directory on List & Send.
    await page.getByRole("link", { name: "Edit rule 100 of example-static" }).click();
    await page.getByRole("heading", { name: /^Rule 100 of “example-static”/ }).waitFor();
    await H.commit(page, page.getByLabel("Directory", { exact: true }), "/maintenance");
    await H.editing(page, () => page.getByLabel("Handler", { exact: true }).selectOption("common"));
    await H.commit(page, page.getByLabel("Document root for this rule"), path.join(site.dir, "maintenance"));
    await page.getByRole("heading", { name: "Rule 100 of “example-static”: directory /maintenance" }).waitFor();

    // Rule 1 (default): internal redirection of every URL to /maintenance/.
    await page.getByRole("link", { name: "← All rules of example-static" }).click();
    await page.getByRole("link", { name: "Edit rule 1 of example-static" }).click();
    await H.editing(page, () => page.getByLabel("Handler", { exact: true }).selectOption("redir"));
    await H.editing(page, () => page.getByRole("button", { name: "Add a rewrite" }).click());
    await H.commit(page, page.getByLabel("Regular expression"), ".*");
    await H.commit(page, page.getByLabel("Substitution"), "/maintenance/");
    assert.equal(await page.getByLabel("Kind").inputValue(), "0");
    await H.screenshot(page, "rule-redir-1280");

    // Staff review: the original answers an intranet name that the copy does not.
    await H.nav(page, "Virtual servers");
    await page.getByRole("link", { name: "example", exact: true }).click();
    await page.getByRole("tab", { name: "Host match" }).click();
    await H.commit(page, page.getByLabel("New Host names"), "intranet_example");
    assert.equal(await page.getByLabel("Host names 2", { exact: true }).inputValue(), "intranet_example");

    const saved = await H.saveWith(page, "Graceful restart");
    assert.equal(saved.body.applied.ok, true, JSON.stringify(saved.body));
    for (const url of ["/", "/news.html", "/deep/path"]) {
      const r = await H.get(site.port, "example.com", url);
      assert.equal(r.status, 200, url);
      assert.equal(r.body, H.PAGE, url);
    }
    const staff = await H.get(site.port, "intranet_example", "/");
    assert.equal(staff.status, 200);
    assert.equal(staff.body, H.LIVE);
  });
});
