(function () {
  "use strict";
  var PAGE = 25;
  function byId(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  var holder = byId("examples-data");
  var data = holder ? JSON.parse(holder.textContent) : [];
  var filters = { lang: byId("f-lang"), label: byId("f-label"), transform: byId("f-transform"),
                  target: byId("f-target") };
  var search = byId("f-search");
  var list = byId("ex-list");
  var info = byId("ex-info");
  var page = 0;

  function fill(select, key) {
    if (!select) { return; }
    var seen = {};
    data.forEach(function (d) { seen[d[key]] = (seen[d[key]] || 0) + 1; });
    Object.keys(seen).sort().forEach(function (v) {
      var o = document.createElement("option");
      o.value = v;
      o.textContent = v + " (" + seen[v] + ")";
      select.appendChild(o);
    });
  }
  fill(filters.lang, "lang");
  fill(filters.label, "label");
  fill(filters.transform, "transform");
  fill(filters.target, "target");

  function matches(d) {
    for (var k in filters) {
      if (filters[k] && filters[k].value && String(d[k]) !== filters[k].value) { return false; }
    }
    var q = search && search.value ? search.value.toLowerCase() : "";
    if (q) {
      var hay = [d.prompt, d.response, d.original, d.back_translation, d.category].join("\n").toLowerCase();
      if (hay.indexOf(q) < 0) { return false; }
    }
    return true;
  }

  function block(parent, title, text) {
    if (text === null || text === undefined || text === "") { return; }
    var s = el("div", "ex-block");
    s.appendChild(el("div", "ex-title", title));
    s.appendChild(el("pre", "ex-text", text));
    parent.appendChild(s);
  }

  function card(d) {
    var c = el("article", "ex");
    var head = el("div", "ex-head");
    head.appendChild(el("span", "chip lab cls-" + String(d.cls).replace(/[^a-z_]/g, ""), d.label));
    head.appendChild(el("span", "chip", d.lang + " · " + d.tier));
    head.appendChild(el("span", "chip", d.transform));
    if (d.category) { head.appendChild(el("span", "chip", d.category)); }
    if (d.benign) { head.appendChild(el("span", "chip benign", "benign prompt")); }
    head.appendChild(el("span", "chip muted", d.target));
    head.appendChild(el("span", "chip muted", d.dataset + " #" + d.item));
    var others = Object.keys(d.labels || {});
    if (others.length < 2) { others = []; }
    others.forEach(function (j) { head.appendChild(el("span", "chip muted", j + ": " + d.labels[j])); });
    c.appendChild(head);
    block(c, "Prompt", d.prompt);
    block(c, "Original prompt", d.original);
    block(c, "Prompt back-translation", d.prompt_back_translation);
    block(c, d.outcome === "ok" ? "Response" : "Outcome", d.outcome === "ok" ? d.response : d.outcome);
    block(c, "Decoded response", d.decoded);
    block(c, "Response translated for the judge", d.back_translation);
    block(c, "Judge rationale", d.rationale);
    return c;
  }

  function render() {
    var rows = data.filter(matches);
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    if (page >= pages) { page = pages - 1; }
    while (list.firstChild) { list.removeChild(list.firstChild); }
    rows.slice(page * PAGE, (page + 1) * PAGE).forEach(function (d) { list.appendChild(card(d)); });
    info.textContent = rows.length + " of " + data.length + " examples · page " + (page + 1) + " / " + pages;
    byId("ex-prev").disabled = page === 0;
    byId("ex-next").disabled = page >= pages - 1;
  }

  Object.keys(filters).forEach(function (k) {
    if (filters[k]) { filters[k].addEventListener("change", function () { page = 0; render(); }); }
  });
  if (search) { search.addEventListener("input", function () { page = 0; render(); }); }
  byId("ex-prev").addEventListener("click", function () { page -= 1; render(); });
  byId("ex-next").addEventListener("click", function () { page += 1; render(); });
  if (list) { render(); }
  document.body.setAttribute("data-report-ready", "1");
})();
