// Live check of the review form: as the reviewer types, the edited draft goes to the server, which
// runs every guardrail on it without executing anything. All text is set with textContent (never
// parsed as HTML), so copy that contains markup is shown, not run.
(function () {
  "use strict";
  var form = document.getElementById("review-form");
  if (!form) { return; }
  var checkUrl = form.getAttribute("data-check-url");
  var csrf = form.getAttribute("data-csrf");
  var fields = Array.prototype.slice.call(form.querySelectorAll("[data-check]"));
  var initial = {};
  fields.forEach(function (f) { initial[f.name] = f.value; });
  var state = document.getElementById("check-state");
  var smsBox = document.getElementById("check-sms");
  var copyList = document.getElementById("check-copy");
  var rulesList = document.getElementById("check-rules");
  var timer = null;
  var seq = 0;

  function edits() {
    var out = {};
    fields.forEach(function (f) {
      if (f.value !== initial[f.name]) { out[f.name] = f.value; }
    });
    return out;
  }

  function fill(list, items, cls) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      if (cls) { li.className = cls; }
      list.appendChild(li);
    });
  }

  function show(result) {
    state.textContent = "verdict: " + result.verdict;
    state.className = "verdict-" + result.verdict;
    if (result.sms) {
      var s = result.sms;
      smsBox.hidden = false;
      smsBox.querySelector("[data-testid=sms-length]").textContent =
        s.length + " / " + s.limit + " " + s.encoding + " characters (name filled to " + s.first_name_width + ")";
      smsBox.querySelector("[data-testid=sms-segments]").textContent = String(s.segments);
      smsBox.querySelector("[data-testid=sms-optout]").textContent =
        s.opt_out_present ? "present" : "missing: add \u201c" + s.opt_out_text + "\u201d";
    } else {
      smsBox.hidden = true;
    }
    fill(copyList, result.copy_findings.length ? result.copy_findings : ["copy is compliant"]);
    fill(rulesList, result.results.filter(function (r) { return r.verdict !== "pass"; })
      .map(function (r) { return r.rule + ": " + r.verdict + " \u2014 " + r.reason; }));
  }

  function detailText(body) {
    if (!body || body.detail === undefined) { return "check failed"; }
    if (typeof body.detail === "string") { return body.detail; }
    return body.detail.map(function (e) { return (e.loc || []).join(".") + ": " + e.msg; }).join("; ");
  }

  function run() {
    var mine = ++seq;
    state.textContent = "checking\u2026";
    fetch(checkUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"content-type": "application/json", "accept": "application/json", "x-csrf-token": csrf},
      body: JSON.stringify({edits: edits()})
    }).then(function (resp) {
      return resp.json().then(function (body) { return {ok: resp.ok, body: body}; });
    }).then(function (r) {
      if (mine !== seq) { return; }
      if (r.ok) { show(r.body); } else { state.textContent = "not checkable: " + detailText(r.body); state.className = "verdict-block"; }
    }).catch(function () {
      if (mine === seq) { state.textContent = "live check unavailable (connection)"; }
    });
  }

  fields.forEach(function (f) {
    f.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(run, 300);
    });
  });
  run();
})();
