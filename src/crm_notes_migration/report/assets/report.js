(function () {
  "use strict";
  var root = document.documentElement;
  var reportId = root.getAttribute("data-report-id") || "report";
  var prefix = "crm-notes-qa:" + reportId + ":";
  var store = null;
  try { store = window.localStorage; store.getItem(prefix); } catch (e) { store = null; }

  function cards() { return Array.prototype.slice.call(document.querySelectorAll("[data-sample-key]")); }

  function read(card) {
    var checked = card.querySelector("input[type=radio]:checked");
    var comment = card.querySelector("textarea");
    return { verdict: checked ? checked.value : "", comment: comment ? comment.value : "" };
  }

  function save(card) {
    var v = read(card);
    card.setAttribute("data-verdict", v.verdict);
    if (store) {
      try { store.setItem(prefix + card.getAttribute("data-sample-key"), JSON.stringify(v)); } catch (e) { /* quota */ }
    }
    progress();
  }

  function restore(card) {
    if (!store) { return; }
    var raw = null;
    try { raw = store.getItem(prefix + card.getAttribute("data-sample-key")); } catch (e) { raw = null; }
    if (!raw) { return; }
    var v;
    try { v = JSON.parse(raw); } catch (e) { return; }
    var radios = card.querySelectorAll("input[type=radio]");
    for (var i = 0; i < radios.length; i++) { radios[i].checked = radios[i].value === v.verdict; }
    var comment = card.querySelector("textarea");
    if (comment && typeof v.comment === "string") { comment.value = v.comment; }
    card.setAttribute("data-verdict", v.verdict || "");
  }

  function progress() {
    var all = cards();
    var done = all.filter(function (c) { return read(c).verdict !== ""; }).length;
    var el = document.getElementById("verdict-progress");
    if (el) { el.textContent = done + " of " + all.length + " samples have a verdict"; }
    sections().forEach(function (section) {
      var mine = Array.prototype.slice.call(section.querySelectorAll("[data-sample-key]"));
      var n = mine.filter(function (c) { return read(c).verdict !== ""; }).length;
      var mark = section.querySelector("summary .done");
      if (mark) { mark.textContent = n ? n + "/" + mine.length + " reviewed" : ""; }
    });
  }

  function cell(value) {
    var s = String(value === undefined || value === null ? "" : value);
    if (/^[=+\-@\t\r]/.test(s)) { s = "'" + s; }
    return '"' + s.replace(/"/g, '""') + '"';
  }

  function csv() {
    var lines = [["cid", "legacy_crm_note_id", "outcome", "categories", "verdict", "comment"].join(",")];
    cards().forEach(function (card) {
      var v = read(card);
      lines.push([
        cell(card.getAttribute("data-cid")), cell(card.getAttribute("data-note-id")),
        cell(card.getAttribute("data-outcome")), cell(card.getAttribute("data-categories")),
        cell(v.verdict), cell(v.comment)
      ].join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }

  function exportCsv() {
    var blob = new Blob([csv()], { type: "text/csv;charset=utf-8" });
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = "qa-verdicts-" + reportId.slice(0, 12) + ".csv";
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  // Note frames are built only when a cid's section opens: the page stays light. The note's
  // HTML is attribute text, handed to a sandboxed frame's srcdoc, never parsed into this page.
  var samples = document.getElementById("samples");
  var frameHead = samples ? samples.getAttribute("data-frame-head") || "" : "";

  function buildFrames(section) {
    var slots = section.querySelectorAll(".slot[data-html]");
    var legacyHtml = "";
    for (var i = 0; i < slots.length; i++) {
      var slot = slots[i];
      var html = slot.getAttribute("data-same") === "legacy" ? legacyHtml : slot.getAttribute("data-html");
      if (slot.getAttribute("data-side") === "legacy") { legacyHtml = html; }
      var frame = document.createElement("iframe");
      frame.className = "note";
      frame.setAttribute("sandbox", "");
      frame.setAttribute("referrerpolicy", "no-referrer");
      frame.setAttribute("title", slot.getAttribute("data-side") + " note");
      frame.srcdoc = frameHead + html + "</body></html>";
      slot.removeAttribute("data-html");
      slot.appendChild(frame);
    }
  }

  function sections() { return Array.prototype.slice.call(document.querySelectorAll("details.cid")); }

  sections().forEach(function (section) {
    section.addEventListener("toggle", function () { if (section.open) { buildFrames(section); } });
    if (section.open) { buildFrames(section); }
  });
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    var section = el && el.closest ? el.closest("details.cid") : null;
    if (section && !section.open) { section.open = true; el.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  function setAll(open) { sections().forEach(function (section) { section.open = open; }); }
  var openAll = document.getElementById("open-all");
  if (openAll) { openAll.addEventListener("click", function () { setAll(true); }); }
  var closeAll = document.getElementById("close-all");
  if (closeAll) { closeAll.addEventListener("click", function () { setAll(false); }); }

  cards().forEach(function (card) {
    restore(card);
    card.addEventListener("change", function () { save(card); });
    card.addEventListener("input", function () { save(card); });
  });
  var button = document.getElementById("export-verdicts");
  if (button) { button.addEventListener("click", exportCsv); }
  window.qaVerdictsCsv = csv;
  progress();
  root.setAttribute("data-qa-ready", "1");
})();
