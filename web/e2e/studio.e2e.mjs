// End-to-end: the built studio in Debian's Chromium (playwright-core, no downloaded browser) against
// a real `scenecraft serve`. Started by tests/web/test_studio_e2e.py, which starts the server:
//
//   SCENECRAFT_URL=http://127.0.0.1:PORT SCENECRAFT_PASSWORD=... E2E_OUT=DIR node e2e/studio.e2e.mjs
//
// Steps: 1 log in; 2 place two subjects (drag and resize boxes) and a pose (drag a joint); the
// workbench at 1280x800 with prompt, Generate, progress and the image in view; 3 generate; 4 see at
// least two preview frames; reload during a job and find it again; queue a second job; cancel both
// ("cancelling…" until the worker stops); 5 see the result in the gallery with its settings, reuse
// them; 6 apply an effect (live WebGL preview, then the server); 7 see version 2 (the panel reset);
// drop the result's PNG on the studio to load its settings. Then the account (MFA with recovery
// codes, a key, sessions by device) and admin pages, phone width (Generate and the image in view),
// the gallery offline, and logging in with a recovery code and with a TOTP code.
// A screenshot of each page goes to E2E_OUT; the last line printed is a JSON summary.

import { createHmac } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.SCENECRAFT_URL;
const password = process.env.SCENECRAFT_PASSWORD;
const out = process.env.E2E_OUT ?? 'test-results/e2e';
if (!base || !password) {
  console.error('set SCENECRAFT_URL and SCENECRAFT_PASSWORD');
  process.exit(2);
}
await mkdir(out, { recursive: true });
const shots = [];
const summary = {};
const TIMEOUT = 60_000;

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for a base32 secret, `offset` steps from now. */
function totp(secret, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

function check(ok, message) {
  if (!ok) throw new Error(`check failed: ${message}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  // --disable-gpu: WebGL2 runs on SwiftShader, which newer Chromium allows with --enable-unsafe-swiftshader.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--enable-unsafe-swiftshader'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
page.setDefaultTimeout(TIMEOUT);
const problems = [];
page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
page.on('console', (msg) => {
  if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) problems.push(`console: ${msg.text()}`);
});

async function shot(name, fullPage = true) {
  const path = join(out, `${name}.png`);
  await page.screenshot({ path, fullPage });
  shots.push(path);
}

/** Every selector's element lies inside the window, without scrolling. */
async function inView(selectors) {
  const out = await page.evaluate((sels) => sels.map((sel) => {
    const e = document.querySelector(sel);
    if (!e) return `${sel}: missing`;
    const r = e.getBoundingClientRect();
    const ok = r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1;
    return ok ? null : `${sel}: ${Math.round(r.left)},${Math.round(r.top)}..${Math.round(r.right)},${Math.round(r.bottom)} in ${innerWidth}x${innerHeight}`;
  }), selectors);
  const bad = out.filter(Boolean);
  check(bad.length === 0, `in view without scrolling: ${bad.join('; ')}`);
  const scrolled = await page.evaluate(() => scrollY);
  check(scrolled === 0, `the window did not scroll (${scrolled}px)`);
}

const IN_VIEW = ['#prompt', '.bench-go button.primary', '#progress', '.stage'];

/** Sets a range input as a user dragging it would (React listens to the input event). */
async function slide(locator, value) {
  await locator.evaluate((el, v) => {
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
    setter.call(el, String(v));
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

async function dragBy(locator, fromX, fromY, dx, dy) {
  await locator.scrollIntoViewIfNeeded();
  const b = await locator.boundingBox();
  const x = b.x + fromX * b.width;
  const y = b.y + fromY * b.height;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + dx / 2, y + dy / 2, { steps: 3 });
  await page.mouse.move(x + dx, y + dy, { steps: 3 });
  await page.mouse.up();
}

try {
  // 1. log in
  await page.goto(base);
  await page.getByLabel('Username').waitFor();
  await shot('01-login');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Studio' }).waitFor();
  summary.login = true;

  // 2. two subjects with boxes, and a pose
  await page.getByLabel('Prompt', { exact: true }).fill('a sunlit room with a chair and a person');
  await page.getByLabel('Upload an image').setInputFiles(join('public', 'icon-192.png'));
  await page.locator('.stage img[alt="Context scene"]').waitFor();
  check((await page.getByLabel('Or pick an earlier asset').inputValue()).length === 32, 'the upload is the context scene');
  await page.getByLabel('Floor').selectOption('marble');
  const worldScene = page.waitForResponse((r) => r.url().endsWith('/v1/scenes/world') && r.status() === 201);
  await page.getByRole('button', { name: 'Make scene' }).click();
  const worldId = (await (await worldScene).json()).id;
  await page.waitForFunction((id) => document.querySelector('.stage img')?.getAttribute('src')?.includes(id), worldId);
  await page.getByRole('button', { name: 'Add subject' }).click();
  await page.getByLabel('Subject 1 prompt').fill('a chair');
  await page.getByTestId('subject-0').getByLabel('Colour').selectOption('red');
  await page.getByTestId('subject-0').getByLabel('Material').selectOption('wood');
  await page.getByRole('button', { name: 'Add person' }).click();
  const canvas = page.getByTestId('box-canvas');
  // box 1 (the person) starts at x 0.37..0.63, y 0.2..0.8: move it right; box 0 (a chair) sits at
  // x 0.06..0.32, y 0.45..0.73: widen it from its east edge
  await dragBy(canvas, 0.5, 0.5, 60, 20);
  await page.getByTestId('box-0').focus();
  await dragBy(canvas, 0.32, 0.59, 60, 0);
  await page.getByTestId('box-0').press('Shift+ArrowDown');
  // pose: drag the right wrist up (inverse kinematics), then a per-joint slider
  await page.getByTestId('box-1').focus();
  await page.getByLabel('Preset').selectOption('walk');
  const wrist = page.locator('circle[data-joint="right_wrist"]');
  await page.getByTestId('skeleton').scrollIntoViewIfNeeded();
  const sk = await page.getByTestId('skeleton').boundingBox();
  const w = await wrist.boundingBox();
  const wristBefore = [await wrist.getAttribute('cx'), await wrist.getAttribute('cy')].map(Number);
  await page.mouse.move(w.x + w.width / 2, w.y + w.height / 2);
  await page.mouse.down();
  await page.mouse.move(w.x - 0.05 * sk.width, sk.y + 0.15 * sk.height, { steps: 5 });
  await page.mouse.up();
  const wristAfter = [await wrist.getAttribute('cx'), await wrist.getAttribute('cy')].map(Number);
  check(wristBefore[1] - wristAfter[1] > 0.3, `the dragged wrist rose: ${wristBefore} -> ${wristAfter}`);
  const elbow = page.locator('circle[data-joint="left_elbow"]');
  const elbowBefore = await elbow.getAttribute('cx');
  const leftWrist = page.locator('circle[data-joint="left_wrist"]');
  const leftWristBefore = Number(await leftWrist.getAttribute('cx'));
  await elbow.focus();
  await slide(page.getByRole('group', { name: /Rotation of the left elbow/ }).getByRole('slider').nth(2), -60);
  check((await elbow.getAttribute('cx')) === elbowBefore, 'an elbow rotation leaves the elbow in place');
  check(Math.abs(Number(await leftWrist.getAttribute('cx')) - leftWristBefore) > 0.05, 'the forearm turned');
  await shot('02-studio-compose');

  // 3. generate (small and quick), 4. at least two preview frames
  await page.getByLabel('Size', { exact: true }).selectOption('32');
  await page.getByLabel('Steps').fill('');
  check((await page.getByLabel('Steps').inputValue()) === '', 'a cleared number field stays empty');
  await page.getByLabel('Steps').fill('100000');
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.locator('#steps-error').waitFor();
  check(/goes up to 200/.test(await page.locator('#steps-error').textContent()), 'the bound is shown next to Steps');
  await page.getByLabel('Steps').fill('3');
  await page.getByLabel('Paint into the scene').check();
  const submitted = page.waitForRequest((r) => r.url().endsWith('/v1/jobs') && r.method() === 'POST');
  await page.getByRole('button', { name: 'Generate' }).click();
  const body = (await submitted).postDataJSON();
  check(body.subjects.length === 2, 'two subjects sent');
  check(body.subjects[0].prompt === 'a chair, red, wood', `subject hints in the prompt: ${body.subjects[0].prompt}`);
  check(body.subjects[0].box[2] - body.subjects[0].box[0] > 0.3, `box 0 widened: ${body.subjects[0].box}`);
  check(body.subjects[1].box[0] > 0.37, `box 1 moved right: ${body.subjects[1].box}`);
  check(body.subjects[1].pose && body.subjects[1].pose.body_pose.length === 69, 'a pose with 69 body values');
  check(body.scene_asset_id === worldId && body.inpaint === true, 'painted into the world scene');
  summary.request = { subjects: body.subjects.map((s) => ({ prompt: s.prompt, box: s.box, pose: Boolean(s.pose) })) };
  const run = page.getByTestId('run');
  await page.waitForSelector('[data-testid=run][data-status=running], [data-testid=run][data-status=succeeded]', { timeout: 120_000 });
  await inView(IN_VIEW);
  summary.desktopInView = true;
  await page.waitForSelector('[data-testid=run][data-status=succeeded]', { timeout: 120_000 });
  const frames = Number(await run.getAttribute('data-frames'));
  check(frames >= 2, `at least two preview frames, saw ${frames}`);
  check((await page.locator('.strip img').count()) === frames, 'every frame is shown');
  summary.previewFrames = frames;
  await page.locator('.stage img[alt="Result"]').waitFor();
  await inView(IN_VIEW);
  await shot('03-studio-generated', false);
  const resultLink = await page.getByRole('link', { name: 'Open in the gallery' }).getAttribute('href');
  check(/^#\/gallery\/[0-9a-f]{32}$/.test(resultLink), `a link to the result: ${resultLink}`);
  const firstSeed = (await page.getByTestId('history').getByTestId('job').first().textContent()).match(/seed (\d+)/)[1];

  // a long run: reload while it runs, find it again with the draft intact
  await page.getByLabel('Paint into the scene').uncheck();
  await page.getByLabel('Steps').fill('60');
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=run][data-status=running]')?.dataset.frames) >= 1, null, { timeout: 120_000 });
  const longJob = await run.getAttribute('data-job');
  await page.reload();
  await page.waitForFunction((id) => {
    const r = document.querySelector('[data-testid=run]');
    return r?.dataset.job === id && r.dataset.status === 'running' && Number(r.dataset.frames) >= 1;
  }, longJob, { timeout: 60_000 });
  check((await page.getByLabel('Prompt', { exact: true }).inputValue()) === 'a sunlit room with a chair and a person', 'the prompt survived the reload');
  check((await page.getByLabel('Steps').inputValue()) === '60', 'the settings survived the reload');
  check((await page.getByTestId('subject-1').getByLabel('Subject 2 prompt').inputValue()) === 'a person', 'the subjects survived');
  summary.reloadFound = true;

  // queue a second job while the first runs, then cancel both
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=queue] [data-testid=job]').length === 2);
  const queued = page.locator('[data-testid=queue] [data-testid=job][data-status=queued]');
  await queued.waitFor();
  check(/in the queue/.test(await queued.textContent()), 'the queued job shows its place');
  await shot('04-studio-queue', false);
  await queued.getByRole('button', { name: /^Cancel job/ }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=queue] [data-testid=job]').length === 1);
  const running = page.locator(`[data-testid=job][data-job="${longJob}"]`);
  await running.getByRole('button', { name: /^Cancel job/ }).click();
  await running.getByText('cancelling…').first().waitFor({ timeout: 10_000 });
  await page.waitForSelector(`[data-testid=job][data-job="${longJob}"][data-status=cancelled]`, { timeout: 120_000 });
  summary.queuedTwo = true;
  summary.cancelled = true;

  // 5. the result in the gallery, with every setting, reusable
  await page.goto(`${base}/${resultLink}`);
  await page.getByRole('heading', { name: 'Gallery' }).waitFor();
  await page.getByTestId('version-1').waitFor();
  check((await page.getByTestId('asset-tile').count()) === 3, 'three assets: the upload, the world scene and the result');
  const settingsText = await page.getByTestId('version-1').getByTestId('version-settings').textContent();
  for (const want of ['a sunlit room with a chair and a person', `Seed${firstSeed}`, 'Steps3', 'seed-12M', 'a chair, red, wood', 'a person (posed)']) {
    check(settingsText.includes(want), `the gallery shows ${want}: ${settingsText}`);
  }
  const download = await page.getByTestId('version-1').getByRole('link', { name: 'Download' }).getAttribute('download');
  check(download === `scenecraft-a-sunlit-room-with-a-chair-and-a-person-seed-${firstSeed}-v1.png`, `a meaningful download name: ${download}`);
  await page.getByRole('button', { name: 'Uploaded' }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=asset-tile]').length === 1);
  await page.getByRole('button', { name: 'All' }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=asset-tile]').length === 3);
  await shot('05-gallery');
  await page.getByTestId('version-1').getByRole('button', { name: 'Use these settings' }).click();
  await page.getByRole('heading', { name: 'Studio' }).waitFor();
  check((await page.getByLabel('Seed').inputValue()) === firstSeed, 'the real seed is loaded');
  check((await page.getByLabel('Steps').inputValue()) === '3', 'the steps are loaded');
  check((await page.getByLabel('Paint into the scene').isChecked()), 'inpaint is loaded');
  summary.reused = true;
  await page.goto(`${base}/${resultLink}`);
  await page.getByTestId('version-1').waitFor();

  // 6. apply an effect: live preview first (no server round trip), then the server renders it
  const preview = page.getByTestId('effects-preview');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=effects-preview]')?.dataset.renders) > 0);
  const before = Number(await preview.getAttribute('data-renders'));
  let requestsWhileSliding = 0;
  const countRequests = (r) => { if (r.url().includes('/v1/')) requestsWhileSliding++; };
  page.on('request', countRequests);
  await slide(page.getByLabel('Exposure stops'), 1.0);
  await slide(page.getByLabel('Vignette amount'), 0.6);
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=effects-preview]')?.dataset.renders) > n, before);
  page.off('request', countRequests);
  check(requestsWhileSliding === 0, `no API request while sliding, saw ${requestsWhileSliding}`);
  check((await page.locator('.effects [role=alert]').count()) === 0, 'no WebGL error');
  await shot('05-effects-preview');
  const effects = page.waitForRequest((r) => r.url().endsWith('/effects') && r.method() === 'POST');
  await page.getByRole('button', { name: 'Apply as a new version' }).click();
  const chain = (await effects).postDataJSON().chain;
  check(chain.map((o) => o.op).join() === 'exposure,vignette' && chain[0].stops === 1, `the previewed chain is sent: ${JSON.stringify(chain)}`);

  // 7. version 2, whose parent is version 1
  await page.getByTestId('version-2').waitFor({ timeout: 120_000 });
  check((await page.getByTestId('version-2').textContent()).includes('from version 1'), 'version 2 has parent 1');
  summary.version2 = true;
  check((await page.locator('.effects input[type=checkbox]:checked').count()) === 0, 'the effects panel starts afresh on version 2');
  await page.getByTestId('asset-tile').filter({ hasText: 'v2' }).waitFor(); // the tile shows the latest version
  await page.getByTestId('version-1').getByRole('button', { name: 'Compare with version 2' }).click();
  await page.getByTestId('compare').waitFor();
  await shot('06-gallery-version-2');

  // drop the result's PNG (its settings are in its text chunks) onto a fresh studio
  // version 2 (the effects render) carries version 1's settings too
  const pngUrl = `/v1/assets/${resultLink.split('/').pop()}/versions/2/content`;
  await page.goto(`${base}/#/studio`);
  await page.getByLabel('Prompt', { exact: true }).fill('something else');
  await page.getByLabel('Seed').fill('');
  const dropped = await page.evaluateHandle(async (url) => {
    const bytes = await (await fetch(url)).arrayBuffer();
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'result.png', { type: 'image/png' }));
    return dt;
  }, pngUrl);
  await page.getByTestId('studio').dispatchEvent('drop', { dataTransfer: dropped });
  await page.getByText('Loaded the settings stored in result.png').waitFor();
  check((await page.getByLabel('Prompt', { exact: true }).inputValue()) === 'a sunlit room with a chair and a person', 'the dropped PNG set the prompt');
  check((await page.getByLabel('Seed').inputValue()) === firstSeed, 'the dropped PNG set the seed');
  check((await page.getByTestId('subject-0').getByLabel('Subject 1 prompt').inputValue()) === 'a chair, red, wood', 'and the subjects');
  summary.pngDropped = true;

  // account: MFA QR code, an API key shown once, sessions
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await page.getByTestId('mfa-qr').waitFor();
  const secret = new URL(await page.getByTestId('mfa-uri').textContent()).searchParams.get('secret');
  await shot('07-account-mfa-qr');
  await page.getByLabel('Code', { exact: true }).fill(totp(secret, -1)); // the server allows one step of drift
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.getByText('On: logging in asks for a code').waitFor();
  const recoveryCodes = (await page.getByTestId('recovery-codes').locator('code').allTextContents());
  check(recoveryCodes.length === 10, `ten recovery codes shown once: ${recoveryCodes.length}`);
  await page.getByLabel('Name', { exact: true }).fill('e2e');
  await page.getByRole('button', { name: 'Create key' }).click();
  check((await page.getByTestId('new-key').textContent()).startsWith('sc_'), 'the new key is shown');
  await page.getByRole('button', { name: 'Copy the new key' }).waitFor();
  await page.getByRole('button', { name: 'Revoke key e2e' }).click();
  await page.getByRole('cell', { name: 'revoked' }).waitFor();
  await page.getByText('this device').waitFor();
  await page.getByRole('cell', { name: /on Linux/ }).first().waitFor(); // sessions named by browser and platform
  await shot('07-account');

  // admin: users and the queue
  await page.getByRole('link', { name: 'Admin' }).click();
  await page.getByTestId('queue-succeeded').waitFor();
  check(Number(await page.getByTestId('queue-succeeded').textContent()) >= 2, 'queue shows the finished jobs');
  await shot('08-admin');

  // phone width: every page still fits (no horizontal scrolling); the studio keeps the prompt,
  // Generate, the progress and the image in view
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/studio`);
  await page.locator('#progress').waitFor();
  await page.waitForTimeout(300);
  await inView(IN_VIEW);
  await shot('09-phone-studio-in-view', false);
  summary.phoneInView = true;
  for (const [name, hash] of [['studio', '#/studio'], ['gallery', '#/gallery'], ['account', '#/account']]) {
    await page.goto(`${base}/${hash}`);
    await page.locator('h1').first().waitFor();
    if (name === 'studio') {
      await page.getByRole('button', { name: 'Add subject' }).click();
      await page.getByRole('button', { name: 'Add person' }).click();
    }
    await page.waitForTimeout(200);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `${name} fits a phone (overflow ${overflow}px)`);
    await shot(`09-phone-${name}`);
  }

  // offline: the service worker serves the shell and the gallery it saw
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${base}/#/gallery`);
  await page.waitForFunction(() => navigator.serviceWorker?.controller !== null);
  await page.reload(); // now under the service worker: what the gallery shows is cached
  await page.getByTestId('asset-tile').first().waitFor();
  await page.waitForTimeout(300);
  await context.setOffline(true);
  await page.reload();
  await page.getByRole('heading', { name: 'Gallery' }).waitFor();
  await page.getByText('You are offline').waitFor();
  check((await page.getByTestId('asset-tile').count()) === 3, 'the cached gallery shows offline');
  await shot('10-offline-gallery');
  await context.setOffline(false);
  summary.offline = true;

  // log in again with a recovery code (the browser that enrolled is excused only within 30 s: forget that)
  await context.clearCookies({ name: 'scenecraft_mfa_fresh' });
  await page.reload();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByLabel('Authentication code').waitFor();
  await page.getByRole('button', { name: 'Use a recovery code' }).click();
  await page.getByLabel('Recovery code').fill(recoveryCodes[0]);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('link', { name: 'Account' }).waitFor();
  summary.recoveryLogin = true;

  // and with two-factor authentication from the app
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByLabel('Authentication code').fill(totp(secret));
  await shot('11-login-mfa');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('link', { name: 'Account' }).waitFor();
  summary.mfaLogin = true;

  check(problems.length === 0, `no page errors: ${problems.join(' | ')}`);
} catch (err) {
  await shot('failure').catch(() => undefined);
  console.error(err.stack ?? String(err));
  console.error(problems.join('\n'));
  console.log(JSON.stringify({ ok: false, screenshots: shots, ...summary }));
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log(JSON.stringify({ ok: true, screenshots: shots, ...summary }));
