// Screenshots of every main page at 1280x800 and on a 390x844 phone, kept in
// test-artifacts/ui/. On the phone, nothing may overflow sideways and Save stays reachable.
"use strict";
const { test } = require("node:test");
const assert = require("node:assert/strict");
const H = require("./harness");

for (const [label, viewport] of [["1280", { width: 1280, height: 800 }], ["390", { width: 390, height: 844 }]]) {
  test(`main pages at ${viewport.width}x${viewport.height}`, { timeout: 120000 }, async () => {
    const site = await H.startSite();
    const b = await H.launch();
    try {
      const page = await H.signIn(b.browser, site, viewport);
      // A few samples for the chart, with traffic in between.
      for (let i = 0; i < 3; i++) {
        await Promise.all([1, 2, 3, 4, 5].map(() => H.get(site.port, "example.com", "/")));
        await page.waitForResponse((r) => r.url().endsWith("/api/status"));
      }
      await page.locator("#chart polyline").waitFor();
      const shots = [];
      const shot = async (name) => {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${name} overflows sideways by ${overflow}px at ${label}`);
        assert.ok(await page.locator("#save-open").isVisible(), `${name}: Save not visible`);
        await H.screenshot(page, `${name}-${label}`);
        shots.push(name);
      };
      await shot("overview");
      await H.nav(page, "Virtual servers");
      await shot("vservers");
      await page.getByRole("link", { name: "example", exact: true }).click();
      await page.getByRole("heading", { name: "Virtual server “example”", level: 1 }).waitFor();
      await shot("vserver-basics");
      await page.getByRole("tab", { name: "Host match" }).click();
      await shot("vserver-hosts");
      await page.getByRole("tab", { name: "Behavior" }).click();
      await page.locator("#rules").waitFor();
      await shot("vserver-behavior");
      await page.getByRole("link", { name: "Edit rule 100 of example" }).click();
      await page.getByRole("heading", { name: /^Rule 100 of “example”/ }).waitFor();
      await H.editing(page, () => page.getByRole("combobox", { name: "Match type" }).selectOption("and"));
      await shot("rule-editor-nested");
      await page.getByRole("tab", { name: "Error handler" }).click();
      await H.editing(page, () => page.getByRole("combobox", { name: "Error handler" }).selectOption("error_redir"));
      await shot("vserver-errors");
      await page.getByRole("tab", { name: "Logging" }).click();
      await shot("vserver-logging");
      await H.nav(page, "Server settings");
      await shot("server");
      await H.nav(page, "History");
      await shot("history");
      await H.nav(page, "Overview");
      await page.locator("#save-open").click();
      await page.getByRole("dialog").locator("pre.diff").waitFor();
      await shot("save-dialog");
      await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
      await H.nav(page, "Virtual servers");
      await page.getByRole("switch", { name: "Maintenance of example" }).click();
      await shot("maintenance-dialog");
      assert.equal(shots.length, 12);
      assert.deepEqual(page.errors, []);
    } finally {
      await b.close();
      await site.stop();
    }
  });
}
