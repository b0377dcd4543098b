// sf2rl arcade: draws the booth's frames, sends the held buttons, and measures what a player feels.
// window.arcade holds the figures a test or a curious player reads: fps drawn, keypress-to-frame
// latencies (ms), the last view (health, timer, tally).
"use strict";
const KEYS = {
  ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right",
  KeyA: "lp", KeyS: "mp", KeyD: "hp", KeyZ: "lk", KeyX: "mk", KeyC: "hk",
};
// Standard gamepad mapping: face buttons for kicks and punches, shoulders for the heavies, d-pad to move.
const PAD = { 12: "up", 13: "down", 14: "left", 15: "right", 2: "lp", 3: "mp", 5: "hp", 0: "lk", 1: "mk", 7: "hk" };

const arcade = window.arcade = { fps: 0, drawn: 0, latencies: [], view: null, connected: false };
const canvas = document.getElementById("screen");
const ctx = canvas.getContext("2d");
const image = ctx.createImageData(256, 224);
const held = new Set();
const padHeld = new Set();
let seq = 0;
const pressedAt = new Map(); // seq of a keydown -> when it happened
let ws = null;
let fpsWindow = [];

function send() {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  seq += 1;
  ws.send(JSON.stringify({ keys: [...held, ...padHeld], seq }));
  return seq;
}

function press(button, down) {
  if (down === held.has(button)) return;
  if (down) held.add(button); else held.delete(button);
  const s = send();
  if (down && s) pressedAt.set(s, performance.now());
}

document.addEventListener("keydown", (e) => {
  const b = KEYS[e.code];
  if (!b) return;
  e.preventDefault();
  if (!e.repeat) press(b, true);
});
document.addEventListener("keyup", (e) => {
  const b = KEYS[e.code];
  if (b) { e.preventDefault(); press(b, false); }
});

function pollGamepad() {
  const pads = navigator.getGamepads ? navigator.getGamepads() : [];
  const pad = [...pads].find((p) => p);
  if (!pad) return;
  const now = new Set();
  for (const [i, name] of Object.entries(PAD)) if (pad.buttons[i] && pad.buttons[i].pressed) now.add(name);
  const [x, y] = [pad.axes[0] || 0, pad.axes[1] || 0];
  if (x < -0.5) now.add("left"); if (x > 0.5) now.add("right");
  if (y < -0.5) now.add("up"); if (y > 0.5) now.add("down");
  const changed = now.size !== padHeld.size || [...now].some((b) => !padHeld.has(b));
  if (!changed) return;
  const fresh = [...now].some((b) => !padHeld.has(b));
  padHeld.clear(); now.forEach((b) => padHeld.add(b));
  const s = send();
  if (fresh && s) pressedAt.set(s, performance.now());
}

function connect() {
  ws = new WebSocket(`ws://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { arcade.connected = true; };
  ws.onclose = () => { arcade.connected = false; setTimeout(connect, 1000); };
  // Drawn as it arrives: waiting for the next animation frame would add up to 16 ms and drop frames
  // whenever two arrive within one.
  ws.onmessage = (m) => { show(m.data, performance.now()); };
}

function hud(v) {
  for (const i of [0, 1]) {
    document.getElementById(`name${i}`).textContent = v.names[i];
    document.getElementById(`hp${i}`).style.width = `${(100 * v.health[i]) / v.max_health}%`;
    document.getElementById(`rounds${i}`).textContent = "\u25CF".repeat(v.rounds[i]) || "\u00A0";
  }
  document.getElementById("timer").textContent = v.timer;
  const tally = Object.entries(v.tally).map(([n, w]) => `${n} ${w}`).join(" : ");
  document.getElementById("tally").textContent = `tally ${tally || "-"} (${v.matches} played)`;
  const r = v.result;
  document.getElementById("result").textContent = r ? (r.champion ? `${r.champion} wins the bracket!` : r.winner === "you" ? "you win!" : `${r.winner} wins`) : "";
  const b = v.bracket;
  document.getElementById("bracket").textContent = b ? b.played.map(([x, y, w]) => `${x} v ${y}: ${w}`).join(" \u00B7 ") : "";
}

function show(buf, now) {
  const head = new DataView(buf, 0, 10);
  const applied = head.getUint32(0, true);
  const jsonLen = head.getUint16(8, true);
  const view = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 10, jsonLen)));
  const rgb = new Uint8Array(buf, 10 + jsonLen);
  const out = image.data;
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    out[j] = rgb[i]; out[j + 1] = rgb[i + 1]; out[j + 2] = rgb[i + 2]; out[j + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  hud(view);
  arcade.view = view;
  arcade.drawn += 1;
  fpsWindow.push(now);
  // The first frame drawn with a keypress's input in effect: that press's latency.
  for (const [s, t] of pressedAt) {
    if (s <= applied) { arcade.latencies.push(now - t); pressedAt.delete(s); }
  }
}

function tick() {
  pollGamepad();
  const now = performance.now();
  while (fpsWindow.length && fpsWindow[0] < now - 1000) fpsWindow.shift();
  arcade.fps = fpsWindow.length;
  document.getElementById("stats").textContent = `${arcade.fps} fps`;
  requestAnimationFrame(tick);
}

connect();
requestAnimationFrame(tick);
