// Validation shown next to its field before saving, rollback from history, and the virtual
// server list: add, filter, reorder by keyboard and by drag and drop.
"use strict";
const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const H = require("./harness");


test("an invalid entry is explained next to its field, and Save refuses it until fixed", { timeout: 120000 }, async () => {
  await H.withSite(async (site, page) => {
    const before = fs.readFileSync(site.config, "utf8");
    await H.nav(page, "Server settings");
    const timeout = page.getByLabel("Timeout", { exact: true });
    await H.commit(page, timeout, "soon");
    const field = page.locator('.field[data-key="server!timeout"]');
    await field.locator(".field-error").waitFor();
    assert.match(await field.locator(".field-error").innerText(), /expected a duration/);
    assert.equal(await timeout.getAttribute("aria-invalid"), "true");
    // The error names the field for assistive technology too.
    const describedBy = await timeout.getAttribute("aria-describedby");
    assert.match(await page.locator(`#${describedBy}`).innerText(), /expected a duration/);
    await H.screenshot(page, "validation-1280");

    // A rule-level error lands on the rule's own field.
    await H.nav(page, "Virtual servers");
    await page.getByRole("link", { name: "example", exact: true }).click();
    await page.getByRole("tab", { name: "Behavior" }).click();
    await page.getByRole("link", { name: "Edit rule 1 of example" }).click();
    await H.editing(page, () => page.getByLabel("Handler", { exact: true }).selectOption("custom_error"));
    const handlerField = page.locator('.field[data-key="vserver!10!rule!1!handler!error"]');
    await handlerField.locator(".field-error").waitFor();
    assert.match(await handlerField.locator(".field-error").innerText(), /needs a status code/);

    // The Save dialog lists both problems and offers no way to save.
    await page.locator("#save-open").click();
    const dialog = page.getByRole("dialog");
    await dialog.locator("#save-errors").waitFor();
    assert.match(await dialog.locator("#save-errors").innerText(), /server!timeout/);
    assert.equal(await dialog.getByRole("button", { name: "Graceful restart", exact: true }).isDisabled(), true);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    assert.equal(fs.readFileSync(site.config, "utf8"), before);

    // Fixing both clears the messages; then it saves.
    await H.editing(page, () => page.getByLabel("Status answered").selectOption("404"));
    await H.nav(page, "Server settings");
    await H.commit(page, page.getByLabel("Timeout", { exact: true }), "30s");
    assert.equal(await page.locator('.field[data-key="server!timeout"] .field-error').innerText(), "");
    assert.equal(await page.locator("#problems").isHidden(), true);
    const saved = await H.saveWith(page, "Save without restart");
    assert.equal(saved.body.applied, null);
    assert.match(fs.readFileSync(site.config, "utf8"), /server!timeout = 30s/);
    // Saved but not applied: the overview says so and applies it.
    await H.nav(page, "Overview");
    await page.getByText("Saved but not applied").waitFor();
    const applied = page.waitForResponse((r) => r.url().endsWith("/api/apply"));
    await page.getByRole("button", { name: "Apply: graceful restart" }).click();
    assert.equal((await (await applied).json()).ok, true);
    await page.getByText(/uses the saved file/).waitFor();
  });
});

test("rollback from history, applied gracefully", { timeout: 120000 }, async () => {
  await H.withSite(async (site, page) => {
    const original = fs.readFileSync(site.config, "utf8");
    await H.nav(page, "Server settings");
    await H.editing(page, () => page.getByLabel("Server header").selectOption("product"));
    const saved = await H.saveWith(page, "Graceful restart");
    assert.equal(saved.body.applied.ok, true);
    assert.equal((await H.get(site.port, "example.com", "/")).headers.server, "Baton");

    await H.nav(page, "History");
    const version = page.locator("#versions a").first();
    await version.click();
    await page.locator("pre.diff").waitFor();
    assert.match(await page.locator("pre.diff").innerText(), /-server!server_tokens = product/);
    await H.screenshot(page, "history-1280");
    await page.locator("#rollback").click();
    const rolled = page.waitForResponse((r) => /\/rollback$/.test(r.url()));
    await page.getByRole("dialog").getByRole("button", { name: "Roll back" }).click();
    const body = await (await rolled).json();
    assert.equal(body.applied.ok, true, JSON.stringify(body));
    await page.locator("#toast", { hasText: "Rolled back" }).waitFor();
    assert.equal(fs.readFileSync(site.config, "utf8"), original);
    assert.notEqual((await H.get(site.port, "example.com", "/")).headers.server, "Baton");
  });
});

test("virtual servers: add, filter, move by keyboard and by drag and drop; default stays last", { timeout: 120000 }, async () => {
  await H.withSite(async (site, page) => {
    await H.nav(page, "Virtual servers");
    await page.getByRole("button", { name: "Add virtual server" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Nick (unique name)").fill("blog");
    await dialog.getByLabel("Document root").fill(`${site.dir}/site`);
    await dialog.getByLabel("Host names (comma separated)").fill("blog.test, www.blog.test");
    await H.editing(page, () => dialog.getByRole("button", { name: "Add" }).click());
    await page.getByRole("heading", { name: "Virtual server “blog”", level: 1 }).waitFor();
    await H.nav(page, "Virtual servers");
    const order = () => page.locator("#vs-list > li").evaluateAll((els) => els.map((e) => e.dataset.nick));
    await page.waitForFunction(() => document.querySelectorAll("#vs-list > li").length === 3);
    assert.deepEqual(await order(), ["blog", "example", "default"]);

    // Keyboard: focus "Move blog down" and press Enter; focus stays on the moved row.
    await page.getByRole("button", { name: "Move blog down" }).focus();
    await H.editing(page, () => page.keyboard.press("Enter"));
    assert.deepEqual(await order(), ["example", "blog", "default"]);
    assert.equal(await page.getByRole("button", { name: "Move blog down" }).isDisabled(), true);
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), "Move blog up");
    await H.editing(page, () => page.keyboard.press("Enter"));
    assert.deepEqual(await order(), ["blog", "example", "default"]);

    // Drag and drop: example onto the top half of blog.
    await H.editing(page, () => page.locator('[data-nick="example"]').dragTo(page.locator('[data-nick="blog"]'), { targetPosition: { x: 40, y: 5 } }));
    assert.deepEqual(await order(), ["example", "blog", "default"]);

    // Filter by domain.
    await page.getByLabel("Filter").fill("blog.test");
    assert.deepEqual(await order(), ["blog"]);
    await page.getByLabel("Filter").fill("");
    assert.deepEqual(await order(), ["example", "blog", "default"]);
    // default cannot move nor be removed.
    assert.equal(await page.getByRole("button", { name: "Move default up" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Remove default" }).count(), 0);

    // Rules reorder the same way: up above the first takes the next hundred, down between
    // two takes a free number between theirs.
    await page.getByRole("link", { name: "example", exact: true }).click();
    await page.getByRole("tab", { name: "Behavior" }).click();
    const prios = () => page.locator("#rules tbody tr").evaluateAll((els) => els.map((e) => Number(e.dataset.priority)));
    // evaluateAll does not wait: let the tab render its rows first.
    await page.waitForFunction(() => document.querySelectorAll("#rules tbody tr").length === 2);
    assert.deepEqual(await prios(), [100, 1]);
    await H.editing(page, () => page.getByRole("button", { name: "Move rule 1 up" }).click());
    assert.deepEqual(await prios(), [200, 100]);
    await H.editing(page, () => page.getByRole("button", { name: "Move rule 200 down" }).click());
    assert.deepEqual(await prios(), [100, 50]);
    assert.match(await page.locator("#rules tbody tr").last().innerText(), /everything \(default\)/);

    const saved = await H.saveWith(page, "Graceful restart");
    assert.equal(saved.body.applied.ok, true);
    // blog was added with a List & Send default rule and no directory index: a listing.
    const r = await H.get(site.port, "www.blog.test", "/");
    assert.equal(r.status, 200);
    assert.match(r.body, /Index of \//);
  });
});
