// The 360° viewer of sal360's HTML reports (data/viewer.h): a frame and its saliency
// maps drawn on the sphere with WebGL (a small shader: each pixel's ray -> longitude,
// latitude -> the equirectangular textures), beside a flat view with the looked-at
// direction marked. Drag to look around, scroll to zoom, ground truth / prediction /
// both (side by side), opacity, frame on/off, and a timeline whose frames load lazily
// (one script file per frame in the report's viewer/ folder, so the page works from
// file:// without a server and never holds all maps at once).
//
// Conventions (sphere/erp.h): longitude phi in [0, 360) degrees from the image's left
// edge, latitude +90 at the top row. The view looks at (yaw = phi, pitch = latitude).
//
// URL hash "#view=YAW,PITCH,FOV&mode=both&frame=K" opens that view; "#selftest" runs the built-in check used by tests/eval/viewer_test: it drags,
// reads back the centre pixel at given directions, steps the timeline, and writes the
// results as JSON into a pre element (id sal360-selftest). The test compares the pixels with
// the map values it computes itself.
(function () {
  'use strict';
  const cfg = JSON.parse(document.getElementById('sal360-viewer-config').textContent);
  const errors = [];
  window.addEventListener('error', (e) => errors.push(String(e.message)));
  const originalError = console.error;
  console.error = function () {
    errors.push(Array.from(arguments).join(' '));
    originalError.apply(console, arguments);
  };

  const root = document.getElementById('sal360-viewer');
  const canvas = root.querySelector('canvas.sphere');
  const flat = root.querySelector('canvas.flat');
  const ui = {};
  for (const el of root.querySelectorAll('[data-ui]')) ui[el.dataset.ui] = el;

  const view = {yaw: 180, pitch: 0, fov: 90, mode: cfg.hasGt ? 'both' : 'pred', opacity: 0.7, showFrame: true};
  const frames = new Map();  // index -> {images, textures}
  let current = -1;

  // ---- WebGL ----
  const gl = canvas.getContext('webgl', {preserveDrawingBuffer: true, antialias: false});
  if (!gl) {
    root.querySelector('.status').textContent = 'WebGL is not available in this browser; the flat view still works.';
  }
  const vs = 'attribute vec2 p; varying vec2 ndc; void main() { ndc = p; gl_Position = vec4(p, 0.0, 1.0); }';
  const fs = [
    'precision highp float;',
    'varying vec2 ndc;',
    'uniform sampler2D frame, map, lut;',
    'uniform vec3 fwd, right, up;',
    'uniform vec2 halfTan;',
    'uniform float opacity, showFrame, hasMap;',
    'const float PI = 3.14159265358979;',
    'void main() {',
    '  vec3 d = normalize(fwd + ndc.x * halfTan.x * right + ndc.y * halfTan.y * up);',
    '  float lat = atan(d.z, length(d.xy));  // not asin: inaccurate near the poles in some GL',
    '  float lon = atan(d.y, d.x);',
    '  vec2 uv = vec2(fract(lon / (2.0 * PI)), clamp((0.5 * PI - lat) / PI, 0.0, 1.0));',
    '  vec3 base = showFrame > 0.5 ? texture2D(frame, uv).rgb : vec3(0.0);',
    '  float t = texture2D(map, uv).r;',
    '  vec3 c = texture2D(lut, vec2((floor(t * 255.0 + 0.5) + 0.5) / 256.0, 0.5)).rgb;',
    '  float a = hasMap * (showFrame > 0.5 ? opacity * t : 1.0);',
    '  gl_FragColor = vec4(mix(base, c, a), 1.0);',
    '}'].join('\n');

  let prog = null, loc = {};
  const tex = {};
  function compile(type, src) {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error('shader: ' + gl.getShaderInfoLog(s));
    return s;
  }
  function texture(filter) {
    const t = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return t;
  }
  if (gl) {
    prog = gl.createProgram();
    gl.attachShader(prog, compile(gl.VERTEX_SHADER, vs));
    gl.attachShader(prog, compile(gl.FRAGMENT_SHADER, fs));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error('link: ' + gl.getProgramInfoLog(prog));
    gl.useProgram(prog);
    for (const n of ['frame', 'map', 'lut', 'fwd', 'right', 'up', 'halfTan', 'opacity', 'showFrame', 'hasMap']) {
      loc[n] = gl.getUniformLocation(prog, n);
    }
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const p = gl.getAttribLocation(prog, 'p');
    gl.enableVertexAttribArray(p);
    gl.vertexAttribPointer(p, 2, gl.FLOAT, false, 0, 0);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);  // map values exact
    tex.lut = texture(gl.NEAREST);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, 256, 1, 0, gl.RGB, gl.UNSIGNED_BYTE, new Uint8Array(cfg.lut));
    tex.frame = texture(gl.LINEAR);
    tex.gt = texture(gl.NEAREST);  // maps: nearest, so a pixel shows the map's own value
    tex.pred = texture(gl.NEAREST);
    tex.none = texture(gl.NEAREST);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, 1, 1, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, new Uint8Array([0]));
  }

  function upload(t, img, format) {
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texImage2D(gl.TEXTURE_2D, 0, format, format, gl.UNSIGNED_BYTE, img);
  }

  const rad = (d) => d * Math.PI / 180;
  function basis() {
    const y = rad(view.yaw), p = rad(view.pitch);
    const fwd = [Math.cos(p) * Math.cos(y), Math.cos(p) * Math.sin(y), Math.sin(p)];
    // Right: eastward (longitude grows to the right, as in the flat image).
    const right = [-Math.sin(y), Math.cos(y), 0];
    const up = [-Math.sin(p) * Math.cos(y), -Math.sin(p) * Math.sin(y), Math.cos(p)];
    return {fwd, right, up};
  }

  function drawHalf(x0, width, which) {
    gl.viewport(x0, 0, width, canvas.height);
    const b = basis();
    const ht = Math.tan(rad(view.fov) / 2);
    gl.uniform3fv(loc.fwd, b.fwd);
    gl.uniform3fv(loc.right, b.right);
    gl.uniform3fv(loc.up, b.up);
    gl.uniform2f(loc.halfTan, ht * width / canvas.height, ht);
    gl.uniform1f(loc.opacity, view.opacity);
    gl.uniform1f(loc.showFrame, view.showFrame ? 1 : 0);
    gl.uniform1f(loc.hasMap, which ? 1 : 0);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, tex.frame);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, which ? tex[which] : tex.none);
    gl.activeTexture(gl.TEXTURE2);
    gl.bindTexture(gl.TEXTURE_2D, tex.lut);
    gl.uniform1i(loc.frame, 0);
    gl.uniform1i(loc.map, 1);
    gl.uniform1i(loc.lut, 2);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  function render() {
    const f = frames.get(current);
    if (gl && f && f.ready) {
      if (view.mode === 'both' && cfg.hasGt) {
        const half = Math.floor(canvas.width / 2);
        drawHalf(0, half, 'gt');
        drawHalf(half, canvas.width - half, 'pred');
      } else {
        drawHalf(0, canvas.width, view.mode === 'gt' && cfg.hasGt ? 'gt' : 'pred');
      }
    }
    drawFlat(f);
    ui.yaw.textContent = view.yaw.toFixed(1);
    ui.pitch.textContent = view.pitch.toFixed(1);
    ui.fov.textContent = view.fov.toFixed(0);
  }

  function drawFlat(f) {
    const c = flat.getContext('2d');
    c.clearRect(0, 0, flat.width, flat.height);
    if (f && f.ready) {
      c.globalAlpha = 1;
      c.drawImage(f.images.frame, 0, 0, flat.width, flat.height);
      c.globalAlpha = view.opacity;
      c.globalCompositeOperation = 'screen';  // dark (non-salient) colours leave the frame visible
      c.drawImage(f.images.overlay, 0, 0, flat.width, flat.height);
      c.globalCompositeOperation = 'source-over';
      c.globalAlpha = 1;
    }
    const x = (((view.yaw % 360) + 360) % 360) / 360 * flat.width, y = (90 - view.pitch) / 180 * flat.height;
    c.strokeStyle = '#0ff';
    c.lineWidth = 2;
    c.beginPath();
    c.moveTo(x - 8, y);
    c.lineTo(x + 8, y);
    c.moveTo(x, y - 8);
    c.lineTo(x, y + 8);
    c.stroke();
  }

  function setView(yaw, pitch, fov) {
    view.yaw = ((yaw % 360) + 360) % 360;
    view.pitch = Math.max(-90, Math.min(90, pitch));
    if (fov !== undefined) view.fov = Math.max(20, Math.min(120, fov));
    render();
  }

  // ---- frames, loaded lazily: viewer/NNNNNN.js calls sal360ViewerFrame(k, data) ----
  const waiting = new Map();
  window.sal360ViewerFrame = function (k, data) {
    const f = {images: {}, ready: false};
    const names = ['frame', 'pred', 'overlay'].concat(cfg.hasGt ? ['gt'] : []);
    let left = names.length;
    for (const n of names) {
      const img = new Image();
      img.onload = () => {
        if (--left === 0) {
          f.ready = true;
          const cb = waiting.get(k);
          waiting.delete(k);
          if (cb) cb(f);
        }
      };
      img.onerror = () => errors.push('frame ' + k + ': the ' + n + ' image does not decode');
      img.src = data[n];
      f.images[n] = img;
    }
    frames.set(k, f);
  };

  function load(k) {
    return new Promise((resolve, reject) => {
      const have = frames.get(k);
      if (have && have.ready) return resolve(have);
      waiting.set(k, resolve);
      if (have) return;
      const s = document.createElement('script');
      s.src = cfg.dir + '/' + String(k).padStart(6, '0') + '.js';
      s.onerror = () => {
        errors.push('cannot load ' + s.src);
        reject(new Error(s.src));
      };
      document.head.appendChild(s);
    });
  }

  async function show(k) {
    k = Math.max(0, Math.min(cfg.frames.length - 1, k));
    const f = await load(k);
    current = k;
    if (gl) {
      upload(tex.frame, f.images.frame, gl.RGB);
      upload(tex.pred, f.images.pred, gl.LUMINANCE);
      if (cfg.hasGt) upload(tex.gt, f.images.gt, gl.LUMINANCE);
    }
    // Keep a few frames around the current one; forget the rest.
    for (const key of Array.from(frames.keys())) {
      if (Math.abs(key - k) > 2 && frames.get(key).ready) frames.delete(key);
    }
    ui.timeline.value = String(k);
    ui.label.textContent = cfg.frames[k];
    ui.index.textContent = (k + 1) + ' / ' + cfg.frames.length;
    render();
    return f;
  }

  // ---- input ----
  let drag = null;
  canvas.addEventListener('pointerdown', (e) => {
    drag = {x: e.clientX, y: e.clientY, yaw: view.yaw, pitch: view.pitch};
    if (canvas.setPointerCapture && e.pointerId !== undefined) {
      try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic pointer */ }
    }
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const perPixel = view.fov / canvas.clientHeight;
    setView(drag.yaw - (e.clientX - drag.x) * perPixel, drag.pitch + (e.clientY - drag.y) * perPixel);
  });
  const end = () => { drag = null; };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    setView(view.yaw, view.pitch, view.fov * Math.exp(e.deltaY * 0.001));
  }, {passive: false});
  for (const b of root.querySelectorAll('[data-mode]')) {
    b.addEventListener('click', () => {
      view.mode = b.dataset.mode;
      render();
    });
    if (!cfg.hasGt && b.dataset.mode !== 'pred') b.disabled = true;
  }
  ui.opacity.addEventListener('input', () => {
    view.opacity = Number(ui.opacity.value) / 100;
    render();
  });
  ui.showFrame.addEventListener('change', () => {
    view.showFrame = ui.showFrame.checked;
    render();
  });
  ui.timeline.max = String(cfg.frames.length - 1);
  ui.timeline.addEventListener('input', () => show(Number(ui.timeline.value)));
  ui.prev.addEventListener('click', () => show(current - 1));
  ui.next.addEventListener('click', () => show(current + 1));
  if (cfg.frames.length < 2) root.querySelector('.timeline').style.display = 'none';

  // ---- the self-test (tests/eval/viewer_test) ----
  function pixelAt(x, y) {
    const px = new Uint8Array(4);
    gl.readPixels(x, y, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    return [px[0], px[1], px[2]];
  }
  function centrePixel() { return pixelAt(Math.floor(canvas.width / 2), Math.floor(canvas.height / 2)); }
  function pixelHash() {
    const px = new Uint8Array(canvas.width * canvas.height * 4);
    gl.readPixels(0, 0, canvas.width, canvas.height, gl.RGBA, gl.UNSIGNED_BYTE, px);
    let h = 0;
    for (let i = 0; i < px.length; i += 7) h = (h * 31 + px[i]) >>> 0;
    return h;
  }
  async function selftest() {
    const out = {webgl: !!gl, errors};
    await show(0);
    out.initial = {yaw: view.yaw, pitch: view.pitch, hash: pixelHash()};
    const r = canvas.getBoundingClientRect();
    const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
    const ev = (type, x, y) => canvas.dispatchEvent(new PointerEvent(type, {clientX: x, clientY: y, bubbles: true, pointerId: 1}));
    ev('pointerdown', cx, cy);
    ev('pointermove', cx + 60, cy + 30);
    ev('pointerup', cx + 60, cy + 30);
    out.dragged = {yaw: view.yaw, pitch: view.pitch, hash: pixelHash()};
    canvas.dispatchEvent(new WheelEvent('wheel', {deltaY: 300, bubbles: true, cancelable: true}));
    out.zoomed = {fov: view.fov};
    view.mode = 'pred';
    view.showFrame = false;
    view.opacity = 1;
    out.probes = [];
    for (const [yaw, pitch] of cfg.selftestViews) {
      setView(yaw, pitch, 60);
      out.probes.push({frame: current, yaw: view.yaw, pitch: view.pitch, fov: view.fov, rgb: centrePixel()});
    }
    if (cfg.hasGt) {
      // The mode buttons: ground truth alone, then both side by side (the centre of each half).
      const [yaw, pitch] = cfg.selftestViews[0];
      setView(yaw, pitch, 60);
      root.querySelector('[data-mode="gt"]').click();
      const gt = centrePixel();
      root.querySelector('[data-mode="both"]').click();
      const half = Math.floor(canvas.width / 2), y = Math.floor(canvas.height / 2);
      out.modes = {yaw: view.yaw, pitch: view.pitch, fov: view.fov, half, gt,
                   bothLeft: pixelAt(Math.floor(half / 2), y),
                   bothRight: pixelAt(half + Math.floor((canvas.width - half) / 2), y)};
      root.querySelector('[data-mode="pred"]').click();
    }
    const before = pixelHash();
    ui.next.click();
    await new Promise((resolve) => {
      const poll = () => (current === 1 ? resolve() : setTimeout(poll, 10));
      poll();
    });
    setView(cfg.selftestViews[0][0], cfg.selftestViews[0][1], 60);
    out.next = {frame: current, label: ui.label.textContent, changed: pixelHash() !== before,
                rgb: centrePixel(), yaw: view.yaw, pitch: view.pitch, fov: view.fov};
    out.canvas = [canvas.width, canvas.height];
    out.loaded = frames.size;
    const pre = document.createElement('pre');
    pre.id = 'sal360-selftest';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }

  if (location.hash === '#selftest') {
    selftest().catch((e) => {
      errors.push(String(e && e.stack || e));
      const pre = document.createElement('pre');
      pre.id = 'sal360-selftest';
      pre.textContent = JSON.stringify({errors});
      document.body.appendChild(pre);
    });
  } else {
    // "#view=YAW,PITCH[,FOV][&mode=gt|pred|both][&frame=K]": a view to open with (and share).
    const q = new URLSearchParams(location.hash.slice(1));
    const v = (q.get('view') || '').split(',').map(Number);
    if (v.length >= 2 && v.every(Number.isFinite)) setView(v[0], v[1], v.length > 2 ? v[2] : undefined);
    if (['gt', 'pred', 'both'].includes(q.get('mode'))) view.mode = q.get('mode');
    show(Number(q.get('frame')) || 0).catch((e) => errors.push(String(e)));
  }
})();
