(function () {
  "use strict";
  var root = document.documentElement;
  var reportId = root.getAttribute("data-report-id") || "report";
  var frameMax = parseInt(root.getAttribute("data-frame-max") || "900", 10);
  var columns = (root.getAttribute("data-csv-columns") || "").split(",");
  var prefix = "crm-notes-qa:" + reportId + ":";
  var reviewerKey = "crm-notes-qa:reviewer";
  var store = null;
  try { store = window.localStorage; store.getItem(prefix); } catch (e) { store = null; }

  function all(selector, within) { return Array.prototype.slice.call((within || document).querySelectorAll(selector)); }
  function byId(id) { return document.getElementById(id); }
  function keyOf(card) { return card.getAttribute("data-sample-key"); }

  var cardList = all("[data-sample-key]");
  var sectionList = all("details.cid");
  var position = new Map();
  cardList.forEach(function (card, i) { position.set(card, i); });
  var cardsOf = new Map();
  sectionList.forEach(function (section) { cardsOf.set(section, all("[data-sample-key]", section)); });

  // Verdicts: {verdict, comment, at, by} per sample, kept in localStorage under the report's id.
  var verdicts = {};
  var reviewerInput = byId("reviewer");

  function reviewer() { return reviewerInput ? reviewerInput.value.trim() : ""; }
  function current(card) { return verdicts[keyOf(card)] || { verdict: "", comment: "", at: "", by: "" }; }

  function persist(card, v) {
    verdicts[keyOf(card)] = v;
    if (!store) { return; }
    try {
      if (v.verdict || v.comment) { store.setItem(prefix + keyOf(card), JSON.stringify(v)); }
      else { store.removeItem(prefix + keyOf(card)); }
    } catch (e) { /* quota: the verdict stays in this page */ }
  }

  function show(card, v) {
    card.setAttribute("data-verdict", v.verdict || "");
    var mark = card.querySelector(".reviewed-at");
    if (mark) { mark.textContent = v.verdict ? v.verdict + (v.by ? " by " + v.by : "") + (v.at ? " at " + v.at : "") : ""; }
  }

  function save(card) {
    var checked = card.querySelector("input[type=radio]:checked");
    var comment = card.querySelector("textarea");
    var before = current(card);
    var v = { verdict: checked ? checked.value : "", comment: comment ? comment.value : "", at: before.at, by: before.by };
    if (v.verdict !== before.verdict || v.comment !== before.comment) {
      v.at = v.verdict ? new Date().toISOString() : "";
      v.by = v.verdict ? reviewer() : "";
    }
    persist(card, v);
    show(card, v);
    progress();
  }

  function clear(card) {
    all("input[type=radio]", card).forEach(function (radio) { radio.checked = false; });
    save(card);
  }

  // Verdicts recorded by `signoff` for this report (`reconcile --with-verdicts`): shown
  // where this browser holds none of its own.
  var recorded = {};
  try { recorded = JSON.parse(byId("samples").getAttribute("data-recorded") || "{}"); } catch (e) { recorded = {}; }

  function restore(card) {
    var raw = null;
    if (store) {
      try { raw = store.getItem(prefix + keyOf(card)); } catch (e) { raw = null; }
    }
    var v;
    if (raw) {
      try { v = JSON.parse(raw); } catch (e) { return; }
    } else if (recorded[keyOf(card)]) {
      v = recorded[keyOf(card)];
    } else {
      return;
    }
    v = { verdict: v.verdict || "", comment: typeof v.comment === "string" ? v.comment : "", at: v.at || "", by: v.by || "" };
    all("input[type=radio]", card).forEach(function (radio) { radio.checked = radio.value === v.verdict; });
    var comment = card.querySelector("textarea");
    if (comment) { comment.value = v.comment; }
    verdicts[keyOf(card)] = v;
    show(card, v);
  }

  function progress() {
    var done = cardList.filter(function (c) { return current(c).verdict !== ""; }).length;
    var el = byId("verdict-progress");
    if (el) { el.textContent = done + " of " + cardList.length + " samples have a verdict"; }
    sectionList.forEach(function (section) {
      var mine = cardsOf.get(section);
      var n = mine.filter(function (c) { return current(c).verdict !== ""; }).length;
      var mark = section.querySelector("summary .done");
      if (mark) { mark.textContent = n ? n + "/" + mine.length + " reviewed" : ""; }
    });
  }

  // The CSV `signoff` imports: every cell quoted (RFC 4180) and kept exactly as typed, so a
  // comment such as =HYPERLINK(...) reaches signoff unchanged; a UTF-8 BOM for spreadsheets.
  function cell(value) {
    var s = String(value === undefined || value === null ? "" : value);
    return '"' + s.replace(/"/g, '""') + '"';
  }

  function csv() {
    var lines = [columns.join(",")];
    cardList.forEach(function (card) {
      var v = current(card);
      var row = {
        report_id: reportId, cid: card.getAttribute("data-cid"), sample_id: card.getAttribute("data-note-id"),
        category: card.getAttribute("data-categories"), verdict: v.verdict, comment: v.comment,
        reviewer: v.verdict ? (v.by || reviewer()) : "", reviewed_at: v.at
      };
      lines.push(columns.map(function (name) { return cell(row[name]); }).join(","));
    });
    return "\ufeff" + lines.join("\r\n") + "\r\n";
  }

  function exportCsv() {
    var blob = new Blob([csv()], { type: "text/csv;charset=utf-8" });
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = "qa-verdicts-" + reportId + ".csv";
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  // Note frames: built while near the viewport, released when far from it. The note's HTML
  // is attribute text handed to a sandboxed frame's srcdoc, never parsed into this page.
  var samples = byId("samples");
  var frameHead = samples ? samples.getAttribute("data-frame-head") || "" : "";
  var stats = { live: 0, built: 0, released: 0, sized: 0 };

  function htmlOf(slot) {
    if (slot.getAttribute("data-same") === "legacy") {
      var card = slot.closest("[data-sample-key]");
      var legacy = card ? card.querySelector('.slot[data-side="legacy"]') : null;
      return legacy ? legacy.getAttribute("data-html") || "" : "";
    }
    return slot.getAttribute("data-html") || "";
  }

  function guard(doc) {
    // Links were made inert in the HTML already; this also stops clicks and submits.
    ["click", "auxclick"].forEach(function (type) {
      doc.addEventListener(type, function (event) {
        var target = event.target;
        if (target && target.closest && target.closest("a, area")) { event.preventDefault(); event.stopPropagation(); }
      }, true);
    });
    doc.addEventListener("submit", function (event) { event.preventDefault(); event.stopPropagation(); }, true);
  }

  function size(frame, slot) {
    var doc = null;
    try { doc = frame.contentDocument; } catch (e) { doc = null; }
    if (!doc || !doc.documentElement || !doc.body) { return; }
    var style = doc.defaultView ? doc.defaultView.getComputedStyle(doc.body) : null;
    var margins = style ? (parseFloat(style.marginTop) || 0) + (parseFloat(style.marginBottom) || 0) : 0;
    var content = Math.ceil(Math.max(doc.documentElement.getBoundingClientRect().height, doc.body.scrollHeight + margins));
    var shown = Math.min(content + 2, frameMax);
    stats.sized += 1;
    frame.style.height = shown + "px";
    slot.style.minHeight = shown + "px";
    slot.classList.toggle("capped", content + 2 > frameMax);
  }

  function build(slot) {
    if (slot.qaFrame) { return; }
    var frame = document.createElement("iframe");
    frame.className = "note";
    frame.setAttribute("sandbox", "allow-same-origin");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.setAttribute("title", slot.getAttribute("data-side") + " note");
    if (slot.style.minHeight) { frame.style.height = slot.style.minHeight; }
    frame.addEventListener("load", function () {
      var doc = null;
      try { doc = frame.contentDocument; } catch (e) { doc = null; }
      if (doc && doc.body) {
        guard(doc);
        size(frame, slot);
        if (window.ResizeObserver) {
          frame.qaResize = new ResizeObserver(function () { size(frame, slot); });
          frame.qaResize.observe(doc.body);
        }
      }
      frame.setAttribute("data-ready", "1");
    });
    frame.srcdoc = frameHead + htmlOf(slot) + "</body></html>";
    slot.qaFrame = frame;
    slot.appendChild(frame);
    stats.live += 1;
    stats.built += 1;
  }

  function release(slot) {
    var frame = slot.qaFrame;
    if (!frame) { return; }
    if (frame.qaResize) { frame.qaResize.disconnect(); }
    slot.qaFrame = null;
    frame.remove();
    stats.live -= 1;
    stats.released += 1;
  }

  var slots = all(".slot[data-html]");
  // Three bands: in view, build now; within NEAR_PX, build when the page is idle (so a
  // jump shows its own notes first); beyond FAR_PX, release.
  var NEAR_PX = 1200, FAR_PX = 4000;
  if (window.IntersectionObserver) {
    var nearby = new Set();
    var queued = false;
    var idle = window.requestIdleCallback || function (fn) { return setTimeout(fn, 30); };
    var drain = function () {
      queued = false;
      var next = nearby.values().next();
      if (next.done) { return; }
      nearby.delete(next.value);
      build(next.value);
      if (nearby.size) { queued = true; idle(drain); }
    };
    var inView = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) { if (entry.isIntersecting) { nearby.delete(entry.target); build(entry.target); } });
    });
    var near = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) { if (!entry.target.qaFrame) { nearby.add(entry.target); } } else { nearby.delete(entry.target); }
      });
      if (nearby.size && !queued) { queued = true; idle(drain); }
    }, { rootMargin: NEAR_PX + "px 0px" });
    var far = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) { if (!entry.isIntersecting) { release(entry.target); } });
    }, { rootMargin: FAR_PX + "px 0px" });
    slots.forEach(function (slot) { inView.observe(slot); near.observe(slot); far.observe(slot); });
  } else {
    sectionList.forEach(function (section) {
      section.addEventListener("toggle", function () { if (section.open) { all(".slot[data-html]", section).forEach(build); } });
    });
  }
  window.qaFrameStats = function () { return { live: stats.live, built: stats.built, released: stats.released, sized: stats.sized }; };

  // Moving around: the sticky toolbar's height keeps targets clear of it (scroll-margin).
  var toolbar = byId("toolbar");
  function toolbarHeight() {
    var h = toolbar ? toolbar.offsetHeight + 8 : 0;
    root.style.setProperty("--toolbar-h", h + "px");
    return h;
  }
  toolbarHeight();
  window.addEventListener("resize", toolbarHeight);

  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? byId(id) : null;
    var section = el && el.closest ? el.closest("details.cid") : null;
    if (section) {
      section.hidden = false;
      if (!section.open) { section.open = true; }
      toolbarHeight();
      el.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  function setAll(open) { sectionList.forEach(function (section) { section.open = open; }); }

  function value(id) { var el = byId(id); return el ? el.value : ""; }

  function applyFilters() {
    var category = value("filter-category"), status = value("filter-status"), verdict = value("filter-verdict");
    var shown = 0;
    sectionList.forEach(function (section) {
      var statusOk = !status || section.getAttribute("data-status") === status;
      var any = false;
      cardsOf.get(section).forEach(function (card) {
        var v = current(card).verdict;
        var match = statusOk &&
          (!category || (" " + card.getAttribute("data-categories") + " ").indexOf(" " + category + " ") >= 0) &&
          (!verdict || (verdict === "none" ? v === "" : v === verdict));
        card.hidden = !match;
        if (match) { any = true; shown += 1; }
      });
      section.hidden = !any;
    });
    var count = byId("filter-count");
    if (count) { count.textContent = category || status || verdict ? shown + " of " + cardList.length + " shown" : ""; }
  }

  function nextUnreviewed() {
    var open = cardList.filter(function (card) {
      return !card.hidden && !card.closest("details.cid").hidden && current(card).verdict === "";
    });
    var el = byId("verdict-progress");
    if (!open.length) { if (el) { el.textContent = "every shown sample has a verdict"; } return null; }
    var now = document.querySelector(".sample.current");
    var after = now ? position.get(now) : -1;
    var pick = open.filter(function (card) { return position.get(card) > after; })[0] || open[0];
    if (now) { now.classList.remove("current"); }
    pick.classList.add("current");
    var section = pick.closest("details.cid");
    if (!section.open) { section.open = true; }
    toolbarHeight();
    pick.scrollIntoView({ block: "start" });
    var radio = pick.querySelector("input[type=radio]");
    if (radio) { radio.focus({ preventScroll: true }); }
    return keyOf(pick);
  }
  window.qaNextUnreviewed = nextUnreviewed;

  function on(id, type, handler) { var el = byId(id); if (el) { el.addEventListener(type, handler); } }
  on("open-all", "click", function () { setAll(true); });
  on("close-all", "click", function () { setAll(false); });
  on("export-verdicts", "click", exportCsv);
  on("next-unreviewed", "click", nextUnreviewed);
  ["filter-category", "filter-status", "filter-verdict"].forEach(function (id) { on(id, "change", applyFilters); });

  if (reviewerInput) {
    try { reviewerInput.value = (store && store.getItem(reviewerKey)) || ""; } catch (e) { /* no storage */ }
    reviewerInput.addEventListener("input", function () {
      try { if (store) { store.setItem(reviewerKey, reviewerInput.value); } } catch (e) { /* quota */ }
    });
  }

  cardList.forEach(function (card) {
    restore(card);
    card.addEventListener("change", function (event) { if (event.target.matches("input, textarea")) { save(card); } });
    card.addEventListener("input", function (event) { if (event.target.matches("textarea")) { save(card); } });
    var button = card.querySelector(".clear-verdict");
    if (button) { button.addEventListener("click", function () { clear(card); }); }
  });
  window.qaVerdictsCsv = csv;
  progress();
  root.setAttribute("data-qa-ready", "1");
})();
