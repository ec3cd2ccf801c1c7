/*
 * Support chatbot: the operator console (static/operator.html).
 *
 * Operators keep the bot good for their own brand: they edit intents
 * (examples, answer, quick replies, policy section, action), try messages,
 * turn what customers really said into examples from the inbox of misses, run
 * evaluations, watch the figures over time, and edit the policy document.
 *
 * Plain JavaScript, no build step, no framework. The DOM is built with
 * createElement / createElementNS and textContent only: text from the server,
 * an intent file or a customer is never parsed as HTML. Nothing inline, so the
 * page runs under "script-src 'self'; style-src 'self'" (bar widths are set
 * through the CSSOM, which that policy allows).
 *
 * The HTTP API: chatbot/web/operator_api.py, described at /api/openapi.json.
 */
(function () {
  "use strict";

  var ORIGIN = window.location.origin;
  var TOKEN_KEY = "chatbot.operator.token";
  var USER_KEY = "chatbot.operator.user";
  var TABS = ["intents", "try", "inbox", "evaluation", "analytics", "policy"];
  var OUT_OF_SCOPE = "out_of_scope";
  var MAX_QUICK_REPLIES = 8;
  var MAX_RECENT_TRIES = 6;
  var TOAST_MS = 6000;
  var SVG_NS = "http://www.w3.org/2000/svg";

  var MISS_REASONS = {
    fallback: "Fell back",
    low_confidence: "Low confidence",
    handoff: "Handed off",
    rephrased: "Rephrased",
    rated_badly: "Rated badly"
  };
  var HANDOFF_REASONS = {
    human_agent: "Asked for a person",
    not_understood: "Not understood twice",
    dispute: "Dispute",
    account_security: "Security problem",
    unknown: "Other"
  };
  // The record actions the server knows (chatbot/records.py KNOWN_ACTIONS), offered as suggestions.
  var KNOWN_ACTIONS = ["order_status", "delivery_tracking", "order_cancel", "order_modify", "return_request",
    "refund_status", "payment_failed", "settlement_withdrawal", "dispute", "human_agent"];

  // ------------------------------------------------------------ helpers --

  var dom = window.ChatbotDom;
  var $ = dom.$, el = dom.el, append = dom.append, clear = dom.clear, show = dom.show;
  var save = dom.store, load = dom.load;

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    dom.setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function str(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function pct(x, digits) {
    if (x === null || x === undefined || isNaN(x)) {
      return "—";
    }
    return (x * 100).toFixed(digits === undefined ? 1 : digits).replace(/\.0+$/, "") + "%";
  }

  function points(before, after) {
    var diff = (after - before) * 100;
    if (Math.abs(diff) < 0.05) {
      return "no change";
    }
    return (diff > 0 ? "+" : "−") + Math.abs(diff).toFixed(1) + " points";
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : (many || one + "s"));
  }

  function fmtWhen(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return str(iso);
    }
    return d.toLocaleString(undefined, { month: "short", day: "numeric", year: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function fmtDay(day, withWeekday) {
    var d = new Date(day + "T00:00:00Z");
    if (isNaN(d.getTime())) {
      return str(day);
    }
    var opts = { month: "short", day: "numeric", timeZone: "UTC" };
    if (withWeekday) {
      opts.weekday = "short";
    }
    return d.toLocaleDateString(undefined, opts);
  }

  function sameList(a, b) {
    if (a.length !== b.length) {
      return false;
    }
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) {
        return false;
      }
    }
    return true;
  }

  function lines(text) {
    return text.split("\n").map(function (s) {
      return s.trim();
    }).filter(Boolean);
  }

  function bar(share, cls) {
    var track = el("span", { class: "op-bar " + (cls || ""), "aria-hidden": "true" });
    var fill = el("span", { class: "op-bar-fill" });
    fill.style.width = Math.max(0, Math.min(100, (share || 0) * 100)).toFixed(2) + "%"; // CSSOM: allowed by the CSP
    track.appendChild(fill);
    return track;
  }

  function chip(text, cls, attrs) {
    var a = attrs || {};
    a.class = "op-chip " + (cls || "");
    a.text = text;
    return el("span", a);
  }

  // "1", "1.1", "1.2", "2", "10": policy section numbers in reading order.
  function sectionKeys(sections) {
    return Object.keys(sections).sort(function (a, b) {
      var x = a.split(".");
      var y = b.split(".");
      for (var i = 0; i < Math.max(x.length, y.length); i++) {
        var d = (parseInt(x[i], 10) || -1) - (parseInt(y[i], 10) || -1);
        if (d) {
          return d;
        }
      }
      return a < b ? -1 : a > b ? 1 : 0;
    });
  }

  // Lint messages name the file by its path on the server; the part under the brand is enough.
  function shortWarning(text) {
    return String(text).replace(/^\S*?\/((?:intents|retired)\/[^\s:\/]+\.ya?ml)/, "$1");
  }

  function accuracyLevel(x) {
    if (x === null || x === undefined) {
      return "none";
    }
    return x >= 0.9 ? "good" : x >= 0.75 ? "fair" : "poor";
  }

  // --------------------------------------------------------------- state --

  var state = {
    token: load(TOKEN_KEY),
    user: null,
    brand: null,
    tab: "intents",
    intents: [],
    sections: {},
    retired: [],
    oosExamples: 0,
    filter: "",
    current: null, // the intent open in the editor, as the server sent it
    currentName: null,
    creating: false,
    saveNote: null, // {kind, result} shown under the editor after a reload
    loaded: {},
    recentTries: [],
    evalRuns: [],
    evalSort: { key: "f1", dir: 1 },
    lastEval: null,
    policy: null,
    policySaved: ""
  };

  var ui = {
    loginScreen: $("login-screen"),
    loginForm: $("login-form"),
    loginBrand: $("login-brand"),
    loginEmail: $("login-email"),
    loginPassword: $("login-password"),
    loginError: $("login-error"),
    loginSubmit: $("login-submit"),
    forbidden: $("forbidden-screen"),
    forbiddenText: $("forbidden-text"),
    forbiddenDetail: $("forbidden-detail"),
    forbiddenLogout: $("forbidden-logout"),
    app: $("app"),
    brandChip: $("brand-chip"),
    me: $("me"),
    logout: $("logout"),
    tabs: $("tabs"),
    main: $("main"),
    toasts: $("toasts"),
    intentCount: $("intent-count"),
    intentList: $("intent-list"),
    intentFilter: $("intent-filter"),
    newIntent: $("new-intent"),
    reloadIntents: $("reload-intents"),
    accuracyNote: $("accuracy-note"),
    retiredBox: $("retired-box"),
    retiredCount: $("retired-count"),
    retiredList: $("retired-list"),
    editor: $("editor"),
    editorEmpty: $("editor-empty"),
    editorBody: $("editor-body"),
    tryForm: $("try-form"),
    tryInput: $("try-input"),
    trySubmit: $("try-submit"),
    tryRecent: $("try-recent"),
    tryError: $("try-error"),
    tryResults: $("try-results"),
    tryVerdict: $("try-verdict"),
    tryAnswerText: $("try-answer-text"),
    tryCitation: $("try-citation"),
    tryQuickReplies: $("try-quick-replies"),
    tryRanking: $("try-ranking"),
    tryMarked: $("try-marked"),
    tryEntities: $("try-entities"),
    inboxDays: $("inbox-days"),
    inboxRefresh: $("inbox-refresh"),
    inboxSummary: $("inbox-summary"),
    inboxList: $("inbox-list"),
    inboxBadge: $("inbox-badge"),
    evalForm: $("eval-form"),
    evalSet: $("eval-set"),
    evalRun: $("eval-run"),
    evalError: $("eval-error"),
    evalResult: $("eval-result"),
    evalHistory: $("eval-history"),
    analyticsDays: $("analytics-days"),
    analyticsRefresh: $("analytics-refresh"),
    analyticsError: $("analytics-error"),
    analyticsKpis: $("analytics-kpis"),
    analyticsCharts: $("analytics-charts"),
    policyTitle: $("policy-title"),
    policyText: $("policy-text"),
    policySave: $("policy-save"),
    policyRevert: $("policy-revert"),
    policyDirty: $("policy-dirty"),
    policyResult: $("policy-result"),
    policySections: $("policy-sections"),
    policyVersions: $("policy-versions")
  };

  // ---------------------------------------------------------------- HTTP --

  function ApiError(status, body) {
    this.status = status;
    this.code = (body && body.error) || (status ? "http_" + status : "network_error");
    this.detail = (body && body.detail) || (status ? "The server answered " + status + "." : "The server could not be reached.");
    this.message = this.detail;
  }

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    if (state.token) {
      headers.Authorization = "Bearer " + state.token;
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    return fetch(ORIGIN + path, {
      method: method,
      headers: headers,
      body: body !== undefined ? JSON.stringify(body) : undefined,
      credentials: "same-origin"
    }).then(function (res) {
      return res.json().catch(function () {
        return {};
      }).then(function (data) {
        if (res.status >= 200 && res.status < 300) {
          return data;
        }
        var error = new ApiError(res.status, data);
        if (res.status === 401 && path !== "/api/login") {
          signedOut("Your session has ended. Please sign in again.");
        }
        throw error;
      });
    }, function () {
      throw new ApiError(0, null);
    });
  }

  function brandQuery(extra) {
    return "?brand=" + encodeURIComponent(state.brand) + (extra || "");
  }

  function intentPath(name, suffix) {
    return "/api/operator/intents/" + encodeURIComponent(name) + (suffix || "") + brandQuery();
  }

  // -------------------------------------------------------------- toasts --

  function toast(text, kind) {
    var node = el("div", { class: "op-toast op-toast-" + (kind || "info"), "data-testid": "toast" }, [
      el("span", { text: text }),
      el("button", { type: "button", class: "op-toast-close", "aria-label": "Dismiss", text: "×" })
    ]);
    node.lastChild.addEventListener("click", function () {
      node.remove();
    });
    ui.toasts.appendChild(node);
    setTimeout(function () {
      node.remove();
    }, TOAST_MS);
  }

  // ------------------------------------------------------- login, logout --

  function showScreen(which) {
    show(ui.loginScreen, which === "login");
    show(ui.forbidden, which === "forbidden");
    show(ui.app, which === "app");
  }

  function showLogin(message) {
    showScreen("login");
    ui.loginSubmit.disabled = false;
    ui.loginError.textContent = message || "";
    show(ui.loginError, !!message);
    var remembered = load(USER_KEY + ".brand");
    if (remembered) {
      ui.loginBrand.value = remembered;
    }
    ui.loginEmail.focus();
  }

  function signedOut(message) {
    state.token = null;
    state.user = null;
    save(TOKEN_KEY, null);
    save(USER_KEY, null);
    showLogin(message);
  }

  function logout() {
    var token = state.token;
    signedOut();
    if (token) {
      fetch(ORIGIN + "/api/logout", { method: "POST", headers: { Authorization: "Bearer " + token }, credentials: "same-origin" })
        .catch(function () { /* the token expires anyway */ });
    }
  }

  ui.loginForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var email = ui.loginEmail.value.trim();
    var password = ui.loginPassword.value;
    if (!email || !password) {
      ui.loginError.textContent = "Enter your email and password.";
      show(ui.loginError, true);
      return;
    }
    ui.loginSubmit.disabled = true;
    show(ui.loginError, false);
    api("POST", "/api/login", { brand: ui.loginBrand.value, email: email, password: password }).then(function (data) {
      state.token = data.token;
      save(TOKEN_KEY, data.token);
      save(USER_KEY + ".brand", ui.loginBrand.value);
      ui.loginPassword.value = "";
      start();
    }, function (error) {
      ui.loginSubmit.disabled = false;
      ui.loginError.textContent = error.status === 401 ? "Wrong email or password."
        : error.status === 429 ? "Too many attempts. Wait a few minutes and try again."
          : "Could not sign in: " + error.detail;
      show(ui.loginError, true);
    });
  });

  ui.logout.addEventListener("click", logout);
  ui.forbiddenLogout.addEventListener("click", logout);

  function start() {
    api("GET", "/api/me").then(function (data) {
      state.user = data.user;
      state.brand = data.user.brand;
      save(USER_KEY, JSON.stringify(data.user));
      return api("GET", "/api/operator/intents" + brandQuery());
    }).then(function (listing) {
      enterApp(listing);
    }, function (error) {
      if (error.status === 403) {
        showForbidden(error);
      } else if (error.status !== 401) {
        showLogin("Could not open the console: " + error.detail);
      }
    });
  }

  function showForbidden(error) {
    var u = state.user || {};
    ui.forbiddenText.textContent = "You are signed in as " + str(u.name || "this account") + " (" + str(u.role || "no role") +
      (u.brand ? " of " + u.brand : "") + "). Only the brand's operators can use the operator console.";
    ui.forbiddenDetail.textContent = "The server answered 403 " + error.code + ": " + error.detail + ".";
    showScreen("forbidden");
  }

  function enterApp(listing) {
    ui.brandChip.textContent = state.brand;
    ui.me.textContent = str(state.user.name);
    document.title = "Operator console · " + state.brand;
    state.loaded = {};
    applyListing(listing);
    showScreen("app");
    loadInboxBadge();
    route();
  }

  // -------------------------------------------------------------- routing --

  function route() {
    var hash = decodeURIComponent((window.location.hash || "").replace(/^#/, ""));
    var parts = hash.split("/");
    var tab = TABS.indexOf(parts[0]) >= 0 ? parts[0] : "intents";
    selectTab(tab);
    if (tab === "intents" && parts[1]) {
      openIntent(parts[1]);
    }
  }

  window.addEventListener("hashchange", function () {
    if (state.user && !ui.app.hidden) {
      route();
    }
  });

  function go(hash) {
    if (window.location.hash === "#" + hash) {
      route();
    } else {
      window.location.hash = hash;
    }
  }

  function selectTab(name, focus) {
    state.tab = name;
    TABS.forEach(function (tab) {
      var button = $("tab-" + tab);
      var selected = tab === name;
      button.setAttribute("aria-selected", selected ? "true" : "false");
      button.setAttribute("tabindex", selected ? "0" : "-1");
      show($("panel-" + tab), selected);
    });
    if (focus) {
      $("tab-" + name).focus();
    }
    if (name === "inbox") {
      loadInbox();
    } else if (name === "evaluation" && !state.loaded.evaluation) {
      loadEvaluations();
    } else if (name === "analytics") {
      loadAnalytics();
    } else if (name === "policy" && !state.loaded.policy) {
      loadPolicy();
    } else if (name === "try") {
      ui.tryInput.focus();
    }
  }

  ui.tabs.addEventListener("click", function (event) {
    var button = event.target.closest("[role=tab]");
    if (button) {
      go(button.getAttribute("data-tab"));
    }
  });

  ui.tabs.addEventListener("keydown", function (event) {
    var index = TABS.indexOf(state.tab);
    var next = null;
    if (event.key === "ArrowRight") {
      next = TABS[(index + 1) % TABS.length];
    } else if (event.key === "ArrowLeft") {
      next = TABS[(index + TABS.length - 1) % TABS.length];
    } else if (event.key === "Home") {
      next = TABS[0];
    } else if (event.key === "End") {
      next = TABS[TABS.length - 1];
    }
    if (next) {
      event.preventDefault();
      go(next);
      $("tab-" + next).focus();
    }
  });

  // ============================================================ Intents ==

  function applyListing(listing) {
    state.intents = listing.intents || [];
    state.sections = listing.sections || {};
    state.retired = listing.retired || [];
    state.oosExamples = listing.out_of_scope_examples || 0;
    renderIntentList();
    renderSectionsList();
  }

  function reloadListing() {
    return api("GET", "/api/operator/intents" + brandQuery()).then(applyListing, function (error) {
      toast("Could not reload the intents: " + error.detail, "danger");
    });
  }

  function intentInfo(name) {
    for (var i = 0; i < state.intents.length; i++) {
      if (state.intents[i].name === name) {
        return state.intents[i];
      }
    }
    return null;
  }

  function intentNames(withOutOfScope) {
    var names = state.intents.map(function (i) {
      return i.name;
    });
    if (withOutOfScope) {
      names.push(OUT_OF_SCOPE);
    }
    return names;
  }

  function renderIntentList() {
    var filter = state.filter.toLowerCase();
    clear(ui.intentList);
    var shown = 0;
    var latestSet = null;
    state.intents.forEach(function (intent) {
      if (intent.accuracy && intent.accuracy.set) {
        latestSet = intent.accuracy.set;
      }
      if (filter && intent.name.indexOf(filter) < 0) {
        return;
      }
      shown++;
      ui.intentList.appendChild(intentRow(intent.name, intent.examples, intent.accuracy,
        [intent.policy_section ? "§ " + intent.policy_section : null, intent.action ? "action: " + intent.action : null]));
    });
    if (!filter || OUT_OF_SCOPE.indexOf(filter) >= 0) {
      ui.intentList.appendChild(intentRow(OUT_OF_SCOPE, state.oosExamples, null, ["not ours: trains the fallback"], true));
    }
    var current = ui.intentList.querySelector("[aria-current=true]");
    if (current && current.scrollIntoView) {
      current.scrollIntoView({ block: "nearest" });
    }
    if (!shown && filter) {
      ui.intentList.appendChild(el("li", { class: "op-empty-note", text: "No intent matches “" + state.filter + "”." }));
    }
    ui.intentCount.textContent = String(state.intents.length);
    ui.accuracyNote.textContent = latestSet
      ? "Accuracy: share of the intent's labelled messages it matched (recall) in the latest evaluation run (" + latestSet + ")."
      : "Accuracy: — until an evaluation has run. Run one in the Evaluation tab.";

    clear(ui.retiredList);
    state.retired.forEach(function (name) {
      var restore = el("button", { type: "button", class: "op-btn op-btn-sm", "data-testid": "restore-button",
        "data-intent": name, text: "Restore", "aria-label": "Restore " + name });
      restore.addEventListener("click", function () {
        restoreIntent(name, restore);
      });
      ui.retiredList.appendChild(el("li", { "data-testid": "retired-row", "data-intent": name }, [
        el("span", { class: "op-mono", text: name }), restore
      ]));
    });
    ui.retiredCount.textContent = String(state.retired.length);
    show(ui.retiredBox, state.retired.length > 0);
  }

  function intentRow(name, examples, accuracy, meta, special) {
    var recall = accuracy ? accuracy.recall : null;
    var accText = accuracy ? pct(recall, 0) : "—";
    var title = accuracy
      ? "Recall " + pct(recall) + ", F1 " + pct(accuracy.f1) + " on " + plural(accuracy.support, "labelled message") + " of " + accuracy.set
      : "No evaluation run yet";
    var button = el("button", {
      type: "button", class: "op-intent-row" + (special ? " is-special" : ""), "data-testid": "intent-row",
      "data-intent": name, "aria-current": state.currentName === name && !state.creating ? "true" : null
    }, [
      el("span", { class: "op-intent-cell-name" }, [
        el("span", { class: "op-intent-name", text: name }),
        el("span", { class: "op-intent-meta", text: meta.filter(Boolean).join(" · ") })
      ]),
      el("span", { class: "op-intent-cell-num", "data-testid": "intent-examples", text: String(examples) }),
      el("span", { class: "op-acc op-acc-" + accuracyLevel(recall), "data-testid": "intent-accuracy", title: title, text: accText })
    ]);
    button.addEventListener("click", function () {
      go("intents/" + name);
    });
    return el("li", null, [button]);
  }

  ui.intentFilter.addEventListener("input", function () {
    state.filter = ui.intentFilter.value.trim();
    renderIntentList();
  });

  ui.reloadIntents.addEventListener("click", function () {
    ui.reloadIntents.disabled = true;
    api("POST", "/api/operator/reload" + brandQuery(), {}).then(function () {
      return reloadListing();
    }).then(function () {
      toast("Intent files reloaded.", "ok");
      if (state.currentName && !state.creating) {
        openIntent(state.currentName, true);
      }
    }, function (error) {
      toast("Could not reload: " + error.detail, "danger");
    }).then(function () {
      ui.reloadIntents.disabled = false;
    });
  });

  ui.newIntent.addEventListener("click", function () {
    confirmLeave(function () {
      if (window.location.hash !== "#intents") {
        history.replaceState(null, "", "#intents");
      }
      selectTab("intents");
      renderNewIntent();
    });
  });

  // -------------------------------------------------------- the editor --

  var form = null; // the editor's inputs while an intent is open

  function editorDirty() {
    if (!form) {
      return false;
    }
    if (state.creating) {
      return !!(form.examples.value.trim() || (form.answer && form.answer.value.trim()) || form.name.value.trim());
    }
    return Object.keys(changes()).length > 0;
  }

  function confirmLeave(proceed, cancel) {
    if (!editorDirty()) {
      proceed();
      return;
    }
    var what = state.creating ? "the new intent" : state.currentName;
    var bar = el("div", { class: "op-alert op-alert-warn op-leave", role: "alert", "data-testid": "leave-prompt" }, [
      el("span", { text: "You have unsaved changes to " + what + "." }),
      el("span", { class: "op-alert-actions" }, [
        el("button", { type: "button", class: "op-btn op-btn-sm", "data-testid": "leave-discard", text: "Discard them" }),
        el("button", { type: "button", class: "op-btn op-btn-sm op-btn-primary", "data-testid": "leave-stay", text: "Keep editing" })
      ])
    ]);
    var old = ui.editorBody.querySelector(".op-leave");
    if (old) {
      old.remove();
    }
    ui.editorBody.insertBefore(bar, ui.editorBody.firstChild);
    bar.querySelector("[data-testid=leave-discard]").addEventListener("click", function () {
      form = null;
      bar.remove();
      proceed();
    });
    bar.querySelector("[data-testid=leave-stay]").addEventListener("click", function () {
      bar.remove();
      if (cancel) {
        cancel();
      }
    });
    bar.querySelector("[data-testid=leave-stay]").focus();
  }

  // Open an intent and put it in the address bar (so a reload keeps it).
  function showIntent(name) {
    if (window.location.hash === "#intents/" + name) {
      selectTab("intents");
      openIntent(name, true);
    } else {
      state.currentName = null;
      window.location.hash = "intents/" + name;
    }
  }

  function openIntent(name, force) {
    if (!force && name === state.currentName && !state.creating && state.current) {
      return;
    }
    if (!force && editorDirty()) {
      var back = state.creating ? "intents" : "intents/" + state.currentName;
      confirmLeave(function () {
        openIntent(name, true);
      }, function () {
        history.replaceState(null, "", "#" + back);
      });
      return;
    }
    state.creating = false;
    state.currentName = name;
    renderIntentList();
    return api("GET", intentPath(name)).then(function (intent) {
      if (state.currentName !== name) {
        return;
      }
      state.current = intent;
      renderEditor(intent);
    }, function (error) {
      state.current = null;
      form = null;
      clear(ui.editorBody);
      show(ui.editorEmpty, false);
      show(ui.editorBody, true);
      var retired = error.status === 404 && state.retired.indexOf(name) >= 0;
      ui.editorBody.appendChild(el("div", { class: "op-alert " + (retired ? "op-alert-info" : "op-alert-danger"), role: "alert",
        "data-testid": "editor-error" }, [
        el("span", { text: retired ? name + " is retired: the bot no longer matches it." : "Could not open " + name + ": " + error.detail })
      ]));
      if (retired) {
        var restore = el("button", { type: "button", class: "op-btn op-btn-primary", "data-testid": "editor-restore", text: "Restore " + name });
        restore.addEventListener("click", function () {
          restoreIntent(name, restore);
        });
        ui.editorBody.appendChild(el("div", { class: "op-actions" }, [restore]));
      }
    });
  }

  function field(label, id, control, hint, extra) {
    return el("div", { class: "op-form-row" }, [
      el("label", { class: "op-label", for: id }, [label].concat(extra || [])),
      control,
      hint ? el("p", { class: "op-hint", id: id + "-hint", text: hint }) : null
    ]);
  }

  function sectionSelect(value) {
    var select = el("select", { class: "op-field", id: "editor-section", "data-testid": "editor-section" }, [
      el("option", { value: "", text: "None (no citation)" })
    ]);
    var found = !value;
    sectionKeys(state.sections).forEach(function (number) {
      var option = el("option", { value: number, text: number + " · " + state.sections[number] });
      if (number === value) {
        option.selected = true;
        found = true;
      }
      select.appendChild(option);
    });
    if (!found) {
      select.appendChild(el("option", { value: value, selected: true, text: value + " (not a section of the policy)" }));
    }
    return select;
  }

  function actionInput(value) {
    var actions = KNOWN_ACTIONS.slice();
    state.intents.forEach(function (i) {
      if (i.action && actions.indexOf(i.action) < 0) {
        actions.push(i.action);
      }
    });
    var list = el("datalist", { id: "editor-actions" }, actions.map(function (a) {
      return el("option", { value: a });
    }));
    var input = el("input", { class: "op-field op-mono", id: "editor-action", type: "text", list: "editor-actions", maxlength: "64",
      placeholder: "none: answer from the policy", autocomplete: "off", "data-testid": "editor-action", "aria-describedby": "editor-action-hint" });
    input.value = value || "";
    return el("div", null, [input, list]);
  }

  function quickReplyEditor(values) {
    var list = el("ul", { class: "op-qr-list", "data-testid": "editor-quick-replies", id: "editor-quick-replies" });
    var add = el("button", { type: "button", class: "op-btn op-btn-sm", "data-testid": "editor-add-quick-reply", text: "+ Add quick reply" });

    function row(value) {
      var index = list.children.length + 1;
      var input = el("input", { class: "op-field op-field-sm", type: "text", maxlength: "100", "data-testid": "editor-quick-reply",
        "aria-label": "Quick reply " + index });
      input.value = value || "";
      var remove = el("button", { type: "button", class: "op-btn op-btn-ghost op-btn-sm op-icon-btn", "aria-label": "Remove this quick reply", text: "×" });
      var item = el("li", null, [input, remove]);
      remove.addEventListener("click", function () {
        item.remove();
        refreshAdd();
        onEdit();
      });
      input.addEventListener("input", onEdit);
      list.appendChild(item);
      refreshAdd();
      return input;
    }

    function refreshAdd() {
      add.disabled = list.children.length >= MAX_QUICK_REPLIES;
    }

    (values || []).forEach(function (v) {
      row(v);
    });
    add.addEventListener("click", function () {
      row("").focus();
    });
    refreshAdd();
    return {
      node: el("div", { class: "op-qr" }, [list, add]),
      values: function () {
        return Array.prototype.map.call(list.querySelectorAll("input"), function (i) {
          return i.value.trim();
        }).filter(Boolean);
      }
    };
  }

  function buildForm(intent, creating) {
    var isOos = !creating && intent.name === OUT_OF_SCOPE;
    var f = { isOos: isOos };
    var nodes = [];
    if (creating) {
      f.name = el("input", { class: "op-field op-mono", id: "new-name", type: "text", maxlength: "64", required: true,
        pattern: "[a-z][a-z0-9_]*", autocomplete: "off", placeholder: "gift_cards", "data-testid": "new-name",
        "aria-describedby": "new-name-hint" });
      nodes.push(field("Name", "new-name", f.name, "Lower-case letters, digits and _ ; it names the file intents/NAME.yaml."));
    }
    f.examples = el("textarea", { class: "op-field op-textarea", id: "editor-examples", rows: isOos ? "16" : "12", spellcheck: "false",
      "data-testid": "editor-examples", "aria-describedby": "editor-examples-hint" });
    f.examples.value = (intent.examples || []).join("\n");
    f.exampleCount = el("span", { class: "op-count", "data-testid": "editor-example-count" });
    nodes.push(field("Examples", "editor-examples", f.examples,
      isOos ? "One per line: messages this brand does not handle. They teach the bot to fall back instead of guessing."
        : "One per line. Customers' own words work best, typos and all; aim for 10 or more.", [" ", f.exampleCount]));
    if (!isOos) {
      f.answer = el("textarea", { class: "op-field op-textarea", id: "editor-answer", rows: "5", maxlength: "4000",
        "data-testid": "editor-answer", "aria-describedby": "editor-answer-hint" });
      f.answer.value = (intent.answer || "").replace(/\n$/, "");
      nodes.push(field("Answer", "editor-answer", f.answer,
        "What the bot says, as plain text. Links and e-mail addresses become clickable in the chat."));
      f.quickReplies = quickReplyEditor(intent.quick_replies);
      nodes.push(el("div", { class: "op-form-row" }, [
        el("span", { class: "op-label", id: "qr-label", text: "Quick replies" }),
        f.quickReplies.node,
        el("p", { class: "op-hint", text: "Buttons under the answer (up to " + MAX_QUICK_REPLIES + "); their text is sent as the customer's next message." })
      ]));
      f.section = sectionSelect(intent.policy_section || "");
      f.actionWrap = actionInput(intent.action);
      f.action = f.actionWrap.querySelector("input");
      f.offer = el("input", { type: "checkbox", id: "editor-offer", "data-testid": "editor-offer-handoff" });
      f.offer.checked = !!intent.offer_handoff;
      nodes.push(el("div", { class: "op-grid-3" }, [
        field("Policy section", "editor-section", f.section, "The answer cites it."),
        field("Action", "editor-action", f.actionWrap, "A record lookup or flow; empty to answer only."),
        el("div", { class: "op-form-row" }, [
          el("span", { class: "op-label", text: "Handoff" }),
          el("label", { class: "op-check", for: "editor-offer" }, [f.offer, " Offer a person after the answer"])
        ])
      ]));
    }
    f.note = el("input", { class: "op-field", id: "editor-note", type: "text", maxlength: "200", autocomplete: "off",
      placeholder: creating ? "created" : "e.g. added phrasings from the inbox", "data-testid": "editor-note" });
    nodes.push(field("Change note", "editor-note", f.note, "Shown in the version history."));
    return { form: f, nodes: nodes };
  }

  function changes() {
    if (!form || state.creating || !state.current) {
      return {};
    }
    var c = state.current;
    var out = {};
    var examples = lines(form.examples.value);
    if (!sameList(examples, c.examples || [])) {
      out.examples = examples;
    }
    if (!form.isOos) {
      var answer = form.answer.value.trim();
      if (answer !== (c.answer || "").trim()) {
        out.answer = answer;
      }
      var qr = form.quickReplies.values();
      if (!sameList(qr, c.quick_replies || [])) {
        out.quick_replies = qr;
      }
      if (form.section.value !== (c.policy_section || "")) {
        out.policy_section = form.section.value;
      }
      var action = form.action.value.trim();
      if (action !== (c.action || "")) {
        out.action = action;
      }
      if (form.offer.checked !== !!c.offer_handoff) {
        out.offer_handoff = form.offer.checked;
      }
    }
    return out;
  }

  function onEdit() {
    if (!form) {
      return;
    }
    var count = lines(form.examples.value).length;
    form.exampleCount.textContent = String(count);
    if (state.creating) {
      form.submit.disabled = false;
      return;
    }
    var dirty = Object.keys(changes()).length > 0;
    form.submit.disabled = !dirty;
    form.check.disabled = !dirty;
    form.discard.disabled = !dirty;
    show(form.dirty, dirty);
  }

  function editorShell(title, subtitle, headExtra) {
    show(ui.editorEmpty, false);
    show(ui.editorBody, true);
    clear(ui.editorBody);
    var head = el("div", { class: "op-editor-head" }, [
      el("div", null, [
        el("h2", { class: "op-h2 op-mono", id: "editor-title", "data-testid": "editor-name", text: title }),
        subtitle ? el("p", { class: "op-small op-muted", "data-testid": "editor-subtitle" }, subtitle) : null
      ]),
      el("div", { class: "op-editor-head-actions" }, headExtra || [])
    ]);
    ui.editorBody.appendChild(head);
  }

  function renderEditor(intent) {
    var info = intentInfo(intent.name);
    var accuracy = info && info.accuracy;
    var subtitle = [el("span", { class: "op-mono", text: str(intent.file) })];
    if (accuracy) {
      subtitle.push(" · accuracy ");
      subtitle.push(el("strong", { class: "op-acc-text op-acc-" + accuracyLevel(accuracy.recall), "data-testid": "editor-accuracy",
        text: pct(accuracy.recall) }));
      subtitle.push(" on " + plural(accuracy.support, "labelled message") + " of " + accuracy.set + " · F1 " + pct(accuracy.f1));
    }
    var headActions = [];
    var dirty = el("span", { class: "op-dirty", "data-testid": "editor-dirty", hidden: true, text: "Unsaved changes" });
    headActions.push(dirty);
    if (intent.name !== OUT_OF_SCOPE) {
      headActions.push(retireControl(intent.name));
    }
    editorShell(intent.name, subtitle, headActions);

    var built = buildForm(intent, false);
    form = built.form;
    form.dirty = dirty;
    var formNode = el("form", { class: "op-form", "data-testid": "editor-form", "aria-labelledby": "editor-title", novalidate: true }, built.nodes);
    form.submit = el("button", { type: "submit", class: "op-btn op-btn-primary", "data-testid": "editor-save", text: "Save", disabled: true });
    form.discard = el("button", { type: "button", class: "op-btn op-btn-ghost", "data-testid": "editor-discard", text: "Discard changes", disabled: true });
    form.check = el("button", { type: "button", class: "op-btn", "data-testid": "editor-check", text: "Check without saving",
      title: "Run the check and the labelled messages against this edit; nothing is saved", disabled: true });
    var tryFirst = el("button", { type: "button", class: "op-btn op-btn-ghost", "data-testid": "editor-try", text: "Try an example" });
    formNode.appendChild(el("div", { class: "op-actions" }, [form.submit, form.check, form.discard, tryFirst]));
    var result = el("div", { class: "op-save-result", "data-testid": "save-result", role: "status" });
    formNode.appendChild(result);
    form.result = result;
    ui.editorBody.appendChild(formNode);

    formNode.addEventListener("input", onEdit);
    formNode.addEventListener("change", onEdit);
    formNode.addEventListener("submit", function (event) {
      event.preventDefault();
      saveIntent();
    });
    form.discard.addEventListener("click", function () {
      form = null;
      renderEditor(state.current);
    });
    form.check.addEventListener("click", checkIntent);
    tryFirst.addEventListener("click", function () {
      var first = lines(form.examples.value)[0] || "";
      tryMessage(first);
    });

    ui.editorBody.appendChild(versionsSection(intent));
    onEdit();
    if (state.saveNote && state.saveNote.intent === intent.name) {
      renderSaveNote(result, state.saveNote);
      state.saveNote = null;
    }
  }

  function retireControl(name) {
    var wrap = el("span", { class: "op-retire" });
    var button = el("button", { type: "button", class: "op-btn op-btn-danger-ghost op-btn-sm", "data-testid": "editor-retire", text: "Retire" });
    wrap.appendChild(button);
    button.addEventListener("click", function () {
      clear(wrap);
      var yes = el("button", { type: "button", class: "op-btn op-btn-danger op-btn-sm", "data-testid": "editor-retire-confirm", text: "Retire " + name });
      var no = el("button", { type: "button", class: "op-btn op-btn-ghost op-btn-sm", text: "Cancel" });
      append(wrap, [el("span", { class: "op-small", text: "The bot stops matching it. " }), yes, no]);
      no.addEventListener("click", function () {
        clear(wrap);
        wrap.appendChild(button);
      });
      yes.addEventListener("click", function () {
        yes.disabled = true;
        var base = state.current && state.current.name === name ? "&base_version=" + state.current.version : "";
        api("DELETE", "/api/operator/intents/" + encodeURIComponent(name) + brandQuery(base)).then(function (result) {
          form = null;
          state.current = null;
          toast("Retired " + name + " (version " + result.version + ").", "ok");
          return reloadListing().then(function () {
            openIntent(name, true);
          });
        }, function (error) {
          yes.disabled = false;
          if (!showStale(error, name)) {
            toast("Could not retire " + name + ": " + error.detail, "danger");
          }
        });
      });
      yes.focus();
    });
    return wrap;
  }

  function saveIntent() {
    var name = state.current.name;
    var body = changes();
    if (!Object.keys(body).length) {
      return;
    }
    body.note = form.note.value.trim();
    body.base_version = state.current.version;  // refused (409) if someone saved another version since
    form.submit.disabled = true;
    form.submit.textContent = "Saving…";
    clear(form.result);
    api("PUT", intentPath(name), body).then(function (result) {
      state.saveNote = { kind: "saved", intent: name, result: result };
      form = null;
      return Promise.all([reloadListing(), openIntent(name, true)]);
    }, function (error) {
      form.submit.textContent = "Save";
      form.submit.disabled = false;
      renderSaveError(form.result, error);
    });
  }

  // A dry run of the edit in the form: the server checks it and runs the
  // labelled messages against it, and nothing is written.
  function checkIntent() {
    var name = state.current.name;
    var body = changes();
    if (!Object.keys(body).length) {
      return;
    }
    var mine = form;
    mine.check.disabled = true;
    mine.check.textContent = "Checking…";
    clear(mine.result);
    api("POST", intentPath(name, "/check"), body).then(function (report) {
      if (form !== mine) {
        return;
      }
      mine.check.textContent = "Check without saving";
      mine.check.disabled = false;
      renderCheck(mine.result, report);
    }, function (error) {
      if (form !== mine) {
        return;
      }
      mine.check.textContent = "Check without saving";
      mine.check.disabled = false;
      renderSaveError(mine.result, error);
    });
  }

  var MOVED_SHOWN = 20;

  function renderCheck(node, report) {
    clear(node);
    var errors = report.errors || [];
    var wrap = el("div", { class: "op-dry-run", "data-testid": "check-result" });
    var headline = errors.length ? "Nothing saved. Saving this would be refused: " : "Nothing saved. ";
    if (errors.length) {
      wrap.appendChild(el("div", { class: "op-alert op-alert-danger", role: "alert", "data-testid": "check-errors" }, [
        el("strong", { text: headline }),
        el("ul", { class: "op-warning-list" }, errors.map(function (e) {
          return el("li", { "data-testid": "check-error", text: e });
        }))
      ]));
    }
    var summary = saveSummary(report, { dryRun: true,
      headline: errors.length ? "If it could be saved:" : headline + "If you save it:" });
    summary.forEach(function (n) {
      wrap.appendChild(n);
    });
    var moved = report.moved || [];
    if (report.accuracy_before !== null && report.accuracy_before !== undefined) {
      var list = el("div", { class: "op-moved", "data-testid": "check-moved" }, [
        el("strong", { text: moved.length ? plural(moved.length, "labelled message") + " would be matched differently:" :
          "No labelled message would be matched differently." })
      ]);
      if (moved.length) {
        var rows = moved.slice(0, MOVED_SHOWN).map(function (m) {
          var fixed = m.after === m.intent;
          var broken = m.before === m.intent;
          return el("li", { class: fixed ? "op-moved-fixed" : broken ? "op-moved-broken" : "", "data-testid": "moved-message" }, [
            el("span", { class: "op-moved-text", text: "“" + m.text + "”" }),
            el("span", { class: "op-small op-muted", text: " labelled " + m.intent + ": " + m.before + " → " + m.after +
              (fixed ? " (now right)" : broken ? " (now wrong)" : "") })
          ]);
        });
        list.appendChild(el("ul", { class: "op-moved-list" }, rows));
        if (moved.length > MOVED_SHOWN) {
          list.appendChild(el("p", { class: "op-small op-muted", text: "and " + (moved.length - MOVED_SHOWN) + " more." }));
        }
      }
      wrap.appendChild(list);
    }
    node.appendChild(wrap);
  }

  function renderSaveError(node, error) {
    clear(node);
    var reload = null;
    if (error.code === "stale_version" && state.current) {
      var name = state.current.name;
      reload = el("button", { type: "button", class: "op-btn op-btn-sm", "data-testid": "stale-reload",
        text: "Load the latest version (your edit here is discarded)" });
      reload.addEventListener("click", function () {
        form = null;
        openIntent(name, true);
      });
    }
    node.appendChild(el("div", { class: "op-alert op-alert-danger", role: "alert", "data-testid": "save-error" }, [
      el("strong", { text: "Not saved. " }),
      el("span", { text: error.detail }),
      reload ? el("span", { class: "op-alert-actions" }, [reload]) : null
    ]));
  }

  // A rollback or retirement refused because another version was saved since
  // this one was loaded: said where a save's error is, with the offer to reload.
  function showStale(error, name) {
    if (error.code !== "stale_version" || !form || !state.current || state.current.name !== name) {
      return false;
    }
    renderSaveError(form.result, error);
    return true;
  }

  // The outcome of a save, a rollback or an example added from the inbox:
  // the version now live, accuracy before and after, the warnings of the check.
  function saveSummary(result, options) {
    options = options || {};
    var nodes = [];
    var headline = options.headline || ("Saved: version " + result.version + " is live.");
    var lowered = !!result.accuracy_lowered;
    if (lowered) {
      var undo = null;
      if (options.undo) {
        undo = el("button", { type: "button", class: "op-btn op-btn-sm op-btn-danger", "data-testid": "undo-change",
          text: "Undo: roll back to the version before" });
        undo.addEventListener("click", function () {
          undo.disabled = true;
          options.undo();
        });
      }
      nodes.push(el("div", { class: "op-alert op-alert-danger op-alert-big", role: "alert", "data-testid": "accuracy-lowered" }, [
        el("strong", { text: "This change lowers accuracy" }),
        el("span", { text: " from " + pct(result.accuracy_before) + " to " + pct(result.accuracy_after) + " (" +
          points(result.accuracy_before, result.accuracy_after) + ") on the labelled messages. " +
          (options.dryRun ? "The messages it moves are listed below." : "Check the examples it moved, or undo it.") }),
        undo ? el("span", { class: "op-alert-actions" }, [undo]) : null
      ]));
    }
    var okLines = [el("strong", { text: headline })];
    if (result.accuracy_before !== null && result.accuracy_before !== undefined && result.accuracy_after !== null &&
        result.accuracy_after !== undefined) {
      okLines.push(el("span", { class: "op-accuracy-change", "data-testid": "save-accuracy" }, [
        " Accuracy on the labelled messages: ",
        el("span", { "data-testid": "accuracy-before", text: pct(result.accuracy_before) }),
        " → ",
        el("span", { "data-testid": "accuracy-after", class: lowered ? "op-danger-text" : "", text: pct(result.accuracy_after) }),
        " (" + points(result.accuracy_before, result.accuracy_after) + ")."
      ]));
    } else {
      okLines.push(el("span", { "data-testid": "save-accuracy", text: " No labelled messages for this brand, so no accuracy check." }));
    }
    nodes.push(el("div", { class: "op-alert " + (lowered ? "op-alert-plain" : "op-alert-ok"), "data-testid": "save-ok" }, okLines));
    var warnings = result.warnings || [];
    if (warnings.length) {
      nodes.push(el("div", { class: "op-alert op-alert-warn", "data-testid": "save-warnings" }, [
        el("strong", { text: plural(warnings.length, "warning") + " from the check:" }),
        el("ul", { class: "op-warning-list" }, warnings.map(function (w) {
          return el("li", { "data-testid": "save-warning", text: shortWarning(w) });
        }))
      ]));
    }
    return nodes;
  }

  function renderSaveNote(node, note) {
    clear(node);
    var options = {};
    if (note.kind === "rollback") {
      options.headline = "Rolled back: version " + note.result.version + " (a copy of version " + note.target + ") is live.";
    } else if (note.kind === "created") {
      options.headline = "Created: version " + note.result.version + " is live.";
    }
    if (note.kind !== "created") {
      options.undo = function () {
        undoTo(note.intent, note.result.version);
      };
    }
    append(node, saveSummary(note.result, options));
  }

  // Roll back to the version just below `version`: undoes that one change.
  function undoTo(name, version) {
    api("GET", intentPath(name, "/versions")).then(function (data) {
      var previous = (data.versions || []).filter(function (v) {
        return v.version < version;
      })[0];
      if (!previous) {
        toast("There is no earlier version to go back to.", "danger");
        return;
      }
      rollback(name, previous.version, version);  // undoes this save only if it is still the latest
    });
  }

  function rollback(name, version, base) {
    var body = { version: version };
    if (base !== undefined) {
      body.base_version = base;
    }
    return api("POST", intentPath(name, "/rollback"), body).then(function (result) {
      state.saveNote = { kind: "rollback", intent: name, target: version, result: result };
      form = null;
      toast("Rolled " + name + " back to version " + version + ".", "ok");
      return Promise.all([reloadListing(), openIntent(name, true)]);
    }, function (error) {
      if (!showStale(error, name)) {
        toast("Could not roll back: " + error.detail, "danger");
      }
    });
  }

  function versionsSection(intent) {
    var versions = intent.versions || [];
    var section = el("section", { class: "op-versions", "data-testid": "versions", "aria-labelledby": "versions-title" }, [
      el("h3", { class: "op-h3", id: "versions-title", text: "Version history" })
    ]);
    if (!versions.length) {
      section.appendChild(el("p", { class: "op-muted op-small", "data-testid": "versions-empty",
        text: "No changes yet: this is the intent as found in the files. Your first save becomes version 2, and version 1 keeps the file as it was, so you can always go back." }));
      return section;
    }
    var body = el("tbody");
    versions.forEach(function (v, i) {
      var action;
      if (i === 0) {
        action = chip("live", "op-chip-ok", { "data-testid": "version-current" });
      } else if (v.note === "retired") {
        action = el("span", { class: "op-muted op-small", text: "retired" });
      } else {
        action = el("button", { type: "button", class: "op-btn op-btn-sm", "data-testid": "rollback-button",
          "data-version": String(v.version), "aria-label": "Roll back to version " + v.version, text: "Roll back" });
        action.addEventListener("click", function () {
          if (editorDirty()) {
            confirmLeave(function () {
              rollback(intent.name, v.version, intent.version);
            });
            return;
          }
          action.disabled = true;
          action.textContent = "Rolling back…";
          rollback(intent.name, v.version, intent.version);
        });
      }
      body.appendChild(el("tr", { "data-testid": "version-row", "data-version": String(v.version) }, [
        el("td", { class: "op-mono", text: "v" + v.version }),
        el("td", { text: str(v.author_name) }),
        el("td", { title: str(v.at) }, [el("time", { datetime: str(v.at), text: fmtWhen(v.at) })]),
        el("td", { class: "op-version-note", text: str(v.note) }),
        el("td", { class: "op-right" }, [action])
      ]));
    });
    section.appendChild(el("div", { class: "op-table-wrap" }, [el("table", { class: "op-table" }, [
      el("thead", null, [el("tr", null, [
        el("th", { scope: "col", text: "Version" }), el("th", { scope: "col", text: "Who" }), el("th", { scope: "col", text: "When" }),
        el("th", { scope: "col", text: "Note" }), el("th", { scope: "col", class: "op-right" }, [el("span", { class: "op-visually-hidden", text: "Action" })])
      ])]),
      body
    ])]));
    return section;
  }

  function renderNewIntent() {
    state.creating = true;
    state.current = null;
    state.currentName = null;
    renderIntentList();
    editorShell("New intent", [el("span", { text: "Saved to intents/NAME.yaml, checked like intents check, and live at once." })]);
    var built = buildForm({ examples: [], quick_replies: [] }, true);
    form = built.form;
    var formNode = el("form", { class: "op-form", "data-testid": "editor-form", novalidate: true }, built.nodes);
    form.submit = el("button", { type: "submit", class: "op-btn op-btn-primary", "data-testid": "editor-create", text: "Create intent" });
    var cancel = el("button", { type: "button", class: "op-btn op-btn-ghost", text: "Cancel" });
    formNode.appendChild(el("div", { class: "op-actions" }, [form.submit, cancel]));
    form.result = el("div", { class: "op-save-result", "data-testid": "save-result", role: "status" });
    formNode.appendChild(form.result);
    ui.editorBody.appendChild(formNode);
    formNode.addEventListener("input", onEdit);
    cancel.addEventListener("click", function () {
      form = null;
      state.creating = false;
      show(ui.editorBody, false);
      show(ui.editorEmpty, true);
      renderIntentList();
    });
    formNode.addEventListener("submit", function (event) {
      event.preventDefault();
      createIntent();
    });
    onEdit();
    form.name.focus();
  }

  function createIntent() {
    var name = form.name.value.trim();
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) {
      renderSaveError(form.result, { detail: "The name is lower-case letters, digits and _, starting with a letter." });
      form.name.setAttribute("aria-invalid", "true");
      form.name.focus();
      return;
    }
    form.name.removeAttribute("aria-invalid");
    var body = {
      name: name,
      examples: lines(form.examples.value),
      answer: form.answer.value.trim(),
      quick_replies: form.quickReplies.values(),
      policy_section: form.section.value,
      action: form.action.value.trim(),
      offer_handoff: form.offer.checked,
      note: form.note.value.trim()
    };
    form.submit.disabled = true;
    api("POST", "/api/operator/intents" + brandQuery(), body).then(function (result) {
      state.saveNote = { kind: "created", intent: name, result: result };
      form = null;
      state.creating = false;
      return reloadListing().then(function () {
        showIntent(name);
      });
    }, function (error) {
      form.submit.disabled = false;
      renderSaveError(form.result, error);
    });
  }

  // A retired intent comes back by rolling back to its last version that had a file.
  function restorableVersion(versions) {
    var byNumber = {};
    versions.forEach(function (v) {
      byNumber[v.version] = v;
    });
    function hasContent(v, depth) {
      if (!v || depth > 20 || v.note === "retired") {
        return false;
      }
      var m = /^rolled back to v(\d+)$/.exec(v.note || "");
      return m ? hasContent(byNumber[m[1]], depth + 1) : true;
    }
    for (var i = 0; i < versions.length; i++) {
      if (hasContent(versions[i], 0)) {
        return versions[i].version;
      }
    }
    return null;
  }

  function restoreIntent(name, button) {
    button.disabled = true;
    api("GET", intentPath(name, "/versions")).then(function (data) {
      var version = restorableVersion(data.versions || []);
      if (version === null) {
        button.disabled = false;
        toast(name + " has no saved version to restore: move retired/" + name + ".yaml back to intents/ and reload.", "danger");
        return;
      }
      return api("POST", intentPath(name, "/rollback"), { version: version }).then(function (result) {
        state.saveNote = { kind: "rollback", intent: name, target: version, result: result };
        toast("Restored " + name + ".", "ok");
        return reloadListing().then(function () {
          showIntent(name);
        });
      });
    }).catch(function (error) {
      button.disabled = false;
      toast("Could not restore " + name + ": " + error.detail, "danger");
    });
  }

  // ============================================================= Try it ==

  ui.tryForm.addEventListener("submit", function (event) {
    event.preventDefault();
    runTry(ui.tryInput.value);
  });

  function tryMessage(text) {
    go("try");
    ui.tryInput.value = text;
    runTry(text);
  }

  function runTry(text) {
    text = text.trim();
    if (!text) {
      ui.tryInput.focus();
      return;
    }
    ui.trySubmit.disabled = true;
    show(ui.tryError, false);
    api("POST", "/api/operator/try", { brand: state.brand, text: text }).then(function (result) {
      renderTry(result);
      remember(text);
    }, function (error) {
      ui.tryError.textContent = "Could not try that message: " + error.detail;
      show(ui.tryError, true);
    }).then(function () {
      ui.trySubmit.disabled = false;
    });
  }

  function remember(text) {
    state.recentTries = [text].concat(state.recentTries.filter(function (t) {
      return t !== text;
    })).slice(0, MAX_RECENT_TRIES);
    clear(ui.tryRecent);
    if (state.recentTries.length) {
      ui.tryRecent.appendChild(el("span", { class: "op-small op-muted", text: "Recent:" }));
    }
    state.recentTries.forEach(function (t) {
      var b = el("button", { type: "button", class: "op-chip op-chip-button", text: t });
      b.addEventListener("click", function () {
        ui.tryInput.value = t;
        runTry(t);
      });
      ui.tryRecent.appendChild(b);
    });
  }

  function intentLink(name, testid) {
    var b = el("button", { type: "button", class: "op-link op-mono", "data-testid": testid || null, text: name,
      title: name === OUT_OF_SCOPE ? "Open the out-of-scope examples" : "Open " + name + " in the editor" });
    b.addEventListener("click", function () {
      go("intents/" + name);
    });
    return b;
  }

  function renderTry(r) {
    show(ui.tryResults, true);
    var answer = r.answer || {};
    var ranking = r.intent_ranking || [];
    var chosen = r.intent && r.intent.name;
    clear(ui.tryVerdict);
    ui.tryVerdict.setAttribute("data-intent", answer.intent || "");
    ui.tryVerdict.setAttribute("data-state", chosen ? "match" : "fallback");
    if (chosen) {
      append(ui.tryVerdict, [chip("Matched", "op-chip-ok"), " ", intentLink(chosen, "try-intent"),
        " with " + pct(r.intent.confidence) + " confidence"]);
    } else {
      var best = ranking[0];
      append(ui.tryVerdict, [chip("Falls back", "op-chip-warn", { "data-testid": "try-fallback" }),
        " No intent is confident enough" + (best ? "; the best guess is " : "."),
        best ? intentLink(best.name) : null, best ? " at " + pct(best.confidence) + "." : null]);
    }
    if (answer.hands_off) {
      append(ui.tryVerdict, [" ", chip("Hands off to a person", "op-chip-accent", { "data-testid": "try-handoff" })]);
    }

    ui.tryAnswerText.textContent = str(answer.text);
    ui.tryCitation.textContent = answer.citation ? "Source: " + answer.citation : "";
    show(ui.tryCitation, !!answer.citation);
    clear(ui.tryQuickReplies);
    (answer.quick_replies || []).forEach(function (q) {
      var b = el("button", { type: "button", class: "op-quick-reply", "data-testid": "try-quick-reply", text: q,
        title: "Try this as the next message" });
      b.addEventListener("click", function () {
        ui.tryInput.value = q;
        runTry(q);
      });
      ui.tryQuickReplies.appendChild(b);
    });
    show(ui.tryQuickReplies, (answer.quick_replies || []).length > 0);

    clear(ui.tryRanking);
    ranking.forEach(function (item, i) {
      var isChosen = item.name === chosen;
      ui.tryRanking.appendChild(el("li", { class: "op-rank" + (isChosen ? " is-chosen" : "") + (i === 0 ? " is-top" : ""),
        "data-testid": "ranking-row", "data-intent": item.name }, [
        el("span", { class: "op-rank-name" }, [intentLink(item.name)]),
        bar(item.confidence, isChosen ? "op-bar-ok" : i === 0 ? "op-bar-warn" : ""),
        el("span", { class: "op-rank-value", "data-testid": "ranking-confidence", text: pct(item.confidence) })
      ]));
    });
    if (!ranking.length) {
      ui.tryRanking.appendChild(el("li", { class: "op-empty-note", text: "No intents ranked." }));
    }

    renderEntities(r.text || "", r.entities || []);
  }

  function renderEntities(text, entities) {
    // The server counts offsets in code points (Python), JavaScript strings in UTF-16 units.
    var chars = Array.from(text);
    function part(start, end) {
      return chars.slice(start, end).join("");
    }
    clear(ui.tryMarked);
    clear(ui.tryEntities);
    var sorted = entities.slice().sort(function (a, b) {
      return a.start - b.start;
    });
    var at = 0;
    sorted.forEach(function (e) {
      if (typeof e.start !== "number" || e.start < at) {
        return;
      }
      if (e.start > at) {
        ui.tryMarked.appendChild(document.createTextNode(part(at, e.start)));
      }
      ui.tryMarked.appendChild(el("mark", { class: "op-mark", title: e.entity, text: part(e.start, e.end) }));
      at = e.end;
    });
    if (at < chars.length) {
      ui.tryMarked.appendChild(document.createTextNode(part(at)));
    }
    if (!entities.length) {
      ui.tryEntities.appendChild(el("p", { class: "op-muted op-small", "data-testid": "try-no-entities", text: "No entities found (order, purchase, refund and withdrawal numbers, amounts, dates…)." }));
      return;
    }
    ui.tryEntities.appendChild(el("table", { class: "op-table op-table-compact" }, [
      el("thead", null, [el("tr", null, [el("th", { scope: "col", text: "Entity" }), el("th", { scope: "col", text: "Value" }),
        el("th", { scope: "col", text: "Offsets" }), el("th", { scope: "col", text: "Text" })])]),
      el("tbody", null, entities.map(function (e) {
        return el("tr", { "data-testid": "entity-row", "data-entity": str(e.entity) }, [
          el("td", { class: "op-mono", text: str(e.entity) }),
          el("td", { class: "op-mono", "data-testid": "entity-value", text: str(e.value) }),
          el("td", { class: "op-mono", "data-testid": "entity-offsets", text: e.start + "–" + e.end }),
          el("td", { text: part(e.start, e.end) })
        ]);
      }))
    ]));
  }

  // ============================================================== Inbox ==

  function loadInboxBadge() {
    api("GET", "/api/operator/misses" + brandQuery("&days=" + encodeURIComponent(ui.inboxDays.value))).then(function (data) {
      setBadge((data.groups || []).length);
    }, function () { /* the badge is a hint */ });
  }

  function setBadge(n) {
    ui.inboxBadge.textContent = String(n);
    ui.inboxBadge.setAttribute("aria-label", plural(n, "group") + " to review");
    show(ui.inboxBadge, n > 0);
  }

  // Only the latest load renders: an earlier one answering late (opening the tab, then
  // Refresh) would otherwise redraw the list under an operator already acting on it.
  var inboxLoads = 0;

  function loadInbox() {
    var mine = ++inboxLoads;
    ui.inboxSummary.textContent = "Loading…";
    ui.inboxRefresh.disabled = true;
    api("GET", "/api/operator/misses" + brandQuery("&days=" + encodeURIComponent(ui.inboxDays.value))).then(function (data) {
      if (mine !== inboxLoads) {
        return;
      }
      renderInbox(data.groups || []);
    }, function (error) {
      ui.inboxSummary.textContent = "Could not load the inbox: " + error.detail;
    }).then(function () {
      ui.inboxRefresh.disabled = false;
    });
  }

  ui.inboxRefresh.addEventListener("click", loadInbox);
  ui.inboxDays.addEventListener("change", loadInbox);

  // A refresh redraws the list, but a card the operator has started on (an
  // intent picked, an add or dismiss on its way or done) stays as it is: a
  // load that lands mid-choice must not undo the choice.
  var inboxCards = new Map();

  function renderInbox(groups) {
    var started = new Map();
    inboxCards.forEach(function (card, text) {
      if (card.hasAttribute("data-touched") || card.hasAttribute("data-state")) {
        started.set(text, card);
      }
    });
    inboxCards = new Map();
    clear(ui.inboxList);
    setBadge(groups.length);
    var messages = 0;
    groups.forEach(function (g) {
      messages += g.count;
    });
    ui.inboxSummary.textContent = groups.length
      ? plural(groups.length, "group") + " of " + plural(messages, "message") + " to review."
      : "";
    if (!groups.length) {
      ui.inboxList.appendChild(el("li", { class: "op-card op-empty", "data-testid": "inbox-empty" }, [
        el("p", { class: "op-big", text: "Nothing to review" }),
        el("p", { text: "No missed messages in this period. Messages that fell back, matched weakly, were followed by a handoff or a rephrase, or were rated badly show up here." })
      ]));
      return;
    }
    groups.forEach(function (g) {
      var card = started.get(g.text) || missCard(g);
      inboxCards.set(g.text, card);
      ui.inboxList.appendChild(card);
    });
  }

  function missCard(g) {
    var card = el("li", { class: "op-card op-miss", "data-testid": "miss-group" });
    var reasons = Object.keys(g.reasons || {}).map(function (r) {
      return chip((MISS_REASONS[r] || r) + (g.reasons[r] > 1 ? " ×" + g.reasons[r] : ""), "op-chip-reason op-reason-" + r,
        { "data-reason": r });
    });
    var select = el("select", { class: "op-field op-field-sm", "data-testid": "miss-intent", "aria-label": "Intent for this message" });
    intentNames(true).forEach(function (name) {
      select.appendChild(el("option", { value: name, selected: name === g.suggested_intent,
        text: name === OUT_OF_SCOPE ? "out_of_scope (not ours)" : name }));
    });
    var add = el("button", { type: "button", class: "op-btn op-btn-primary op-btn-sm", "data-testid": "miss-add" });
    var dismiss = el("button", { type: "button", class: "op-btn op-btn-ghost op-btn-sm", "data-testid": "miss-dismiss", text: "Dismiss" });
    var status = el("div", { class: "op-miss-status", "data-testid": "miss-status", role: "status" });
    function label() {
      add.textContent = "Add as example of " + select.value;
    }
    label();
    select.addEventListener("change", function () {
      card.setAttribute("data-touched", "");
      label();
    });

    var others = (g.examples || []).filter(function (t) {
      return t !== g.text;
    });
    append(card, [
      el("div", { class: "op-miss-main" }, [
        el("blockquote", { class: "op-miss-text", "data-testid": "miss-text", text: g.text }),
        el("p", { class: "op-miss-meta" }, [
          el("span", { "data-testid": "miss-count", text: plural(g.count, "message") }),
          el("span", { class: "op-dot-sep", "aria-hidden": "true", text: "·" }),
          el("span", { "data-testid": "miss-customers", text: plural(g.customers, "customer") }),
          el("span", { class: "op-dot-sep", "aria-hidden": "true", text: "·" }),
          el("span", { class: "op-chips-inline", "data-testid": "miss-reasons" }, reasons)
        ]),
        others.length ? el("details", { class: "op-miss-examples" }, [
          el("summary", { text: "Similar messages (" + others.length + ")" }),
          el("ul", null, others.map(function (t) {
            return el("li", { text: t });
          }))
        ]) : null,
        g.suggested_intent ? el("p", { class: "op-small op-muted" }, ["The bot's best guess: ", el("span", { class: "op-mono", text: g.suggested_intent })]) : null
      ]),
      el("div", { class: "op-miss-actions" }, [select, add, dismiss]),
      status
    ]);

    function busy(on) {
      if (on) {
        card.setAttribute("data-state", "busy");
      } else {
        card.removeAttribute("data-state");
      }
      add.disabled = on;
      dismiss.disabled = on;
      select.disabled = on;
    }

    add.addEventListener("click", function () {
      var intent = select.value;
      busy(true);
      api("POST", "/api/operator/misses/resolve", { brand: state.brand, text: g.text, keys: g.keys || [], action: "example", intent: intent })
        .then(function (result) {
          done(card, status, [el("span", { text: "Added as an example of " }), intentLink(intent, "miss-done-intent"),
            el("span", { text: "." })], result, g.text);
          reloadListing();
        }, function (error) {
          busy(false);
          clear(status);
          status.appendChild(el("div", { class: "op-alert op-alert-danger", role: "alert", text: "Not added: " + error.detail }));
        });
    });
    dismiss.addEventListener("click", function () {
      busy(true);
      api("POST", "/api/operator/misses/resolve", { brand: state.brand, text: g.text, keys: g.keys || [], action: "dismiss" })
        .then(function () {
          done(card, status, [el("span", { text: "Dismissed: it won't show up again." })], null, g.text);
        }, function (error) {
          busy(false);
          clear(status);
          status.appendChild(el("div", { class: "op-alert op-alert-danger", role: "alert", text: "Not dismissed: " + error.detail }));
        });
    });
    return card;
  }

  function done(card, status, message, result, text) {
    card.classList.add("is-done");
    card.setAttribute("data-state", "done");
    var actions = card.querySelector(".op-miss-actions");
    clear(actions);
    var tryIt = el("button", { type: "button", class: "op-btn op-btn-sm", "data-testid": "miss-try", text: "Try it now" });
    tryIt.addEventListener("click", function () {
      tryMessage(text);
    });
    actions.appendChild(tryIt);
    clear(status);
    status.appendChild(el("p", { class: "op-miss-done", "data-testid": "miss-done" }, message));
    if (result) {
      append(status, saveSummary(result, { headline: "Version " + result.version + " is live." }));
    }
    var remaining = Number(ui.inboxBadge.textContent || "0") - 1;
    setBadge(Math.max(0, remaining));
  }

  // ========================================================= Evaluation ==

  function loadEvaluations() {
    return api("GET", "/api/operator/eval" + brandQuery()).then(function (data) {
      state.loaded.evaluation = true;
      var current = ui.evalSet.value;
      clear(ui.evalSet);
      (data.sets || []).forEach(function (name) {
        ui.evalSet.appendChild(el("option", { value: name, text: name, selected: name === current }));
      });
      ui.evalRun.disabled = !(data.sets || []).length;
      state.evalRuns = data.runs || [];
      renderEvalHistory();
      if (!state.lastEval) {
        clear(ui.evalResult);
        ui.evalResult.appendChild(el("div", { class: "op-card op-empty", "data-testid": "eval-empty" }, [
          el("p", { class: "op-big", text: "Run an evaluation" }),
          el("p", { text: (data.sets || []).length
            ? "Pick a labelled set and run it to see accuracy, out-of-scope rejection, the baseline, per-intent figures and confusions."
            : "No labelled sets found in the server's labelled folder." })
        ]));
      }
    }, function (error) {
      ui.evalError.textContent = "Could not load the labelled sets: " + error.detail;
      show(ui.evalError, true);
    });
  }

  function renderEvalHistory() {
    clear(ui.evalHistory);
    var runs = state.evalRuns;
    if (!runs.length) {
      ui.evalHistory.appendChild(el("p", { class: "op-muted op-small", text: "No runs yet." }));
      return;
    }
    var body = el("tbody");
    runs.forEach(function (run, i) {
      var previous = null;
      for (var j = i + 1; j < runs.length; j++) {
        if (runs[j].set_name === run.set_name) {
          previous = runs[j];
          break;
        }
      }
      var delta = previous ? deltaChip(previous.accuracy, run.accuracy) : el("span", { class: "op-muted", text: "first run" });
      body.appendChild(el("tr", { "data-testid": "eval-run-row" }, [
        el("td", { class: "op-mono", text: run.set_name }),
        el("td", null, [el("time", { datetime: str(run.at), text: fmtWhen(run.at) })]),
        el("td", { class: "op-num", text: pct(run.accuracy) }),
        el("td", { class: "op-num", text: pct(run.oos_rejection) }),
        el("td", null, [delta])
      ]));
    });
    ui.evalHistory.appendChild(el("div", { class: "op-table-wrap" }, [el("table", { class: "op-table" }, [
      el("thead", null, [el("tr", null, [
        el("th", { scope: "col", text: "Set" }), el("th", { scope: "col", text: "When" }),
        el("th", { scope: "col", class: "op-num", text: "Accuracy" }), el("th", { scope: "col", class: "op-num", text: "OOS rejection" }),
        el("th", { scope: "col", text: "vs. previous run of the set" })
      ])]),
      body
    ])]));
  }

  function deltaChip(before, after) {
    var diff = after - before;
    var kind = Math.abs(diff) < 0.0005 ? "same" : diff > 0 ? "up" : "down";
    return chip(kind === "same" ? "no change" : points(before, after), "op-delta op-delta-" + kind);
  }

  ui.evalForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var set = ui.evalSet.value;
    if (!set) {
      return;
    }
    ui.evalRun.disabled = true;
    ui.evalRun.textContent = "Running…";
    show(ui.evalError, false);
    api("POST", "/api/operator/eval", { brand: state.brand, set: set }).then(function (result) {
      state.lastEval = result;
      result.set_name = set;
      renderEval(result);
      loadEvaluations();
      reloadListing();
    }, function (error) {
      ui.evalError.textContent = "The evaluation failed: " + error.detail;
      show(ui.evalError, true);
    }).then(function () {
      ui.evalRun.disabled = false;
      ui.evalRun.textContent = "Run evaluation";
    });
  });

  function kpi(testid, label, value, note, level) {
    return el("article", { class: "op-kpi", "data-testid": testid, "data-level": level || null }, [
      el("p", { class: "op-kpi-label", text: label }),
      el("p", { class: "op-kpi-value", "data-testid": testid + "-value" }, Array.isArray(value) ? value : [value]),
      note ? el("p", { class: "op-kpi-note" }, Array.isArray(note) ? note : [note]) : null
    ]);
  }

  function renderEval(r) {
    clear(ui.evalResult);
    var prev = r.previous;
    var compare = el("div", { class: "op-alert " + (prev && r.accuracy < prev.accuracy - 0.0005 ? "op-alert-danger" : "op-alert-info"),
      "data-testid": "eval-compare", role: "status" });
    if (prev) {
      append(compare, [
        el("strong", { text: "Compared with the previous run of " + r.set_name + " (" + fmtWhen(prev.at) + "): " }),
        "accuracy " + pct(prev.accuracy) + " → " + pct(r.accuracy) + " ", deltaChip(prev.accuracy, r.accuracy),
        ", OOS rejection " + pct(prev.oos_rejection) + " → " + pct(r.oos_rejection) + " ", deltaChip(prev.oos_rejection, r.oos_rejection),
        r.accuracy < prev.accuracy - 0.0005 ? el("span", { text: ". Accuracy went down: check the recent intent changes." }) : "."
      ]);
    } else {
      compare.appendChild(el("span", { text: "First run of " + r.set_name + ": nothing to compare with yet. Run it again after a change to see the difference." }));
    }
    ui.evalResult.appendChild(compare);

    var base = r.baseline || {};
    var latency = r.latency_ms || {};
    ui.evalResult.appendChild(el("div", { class: "op-kpis" }, [
      kpi("eval-accuracy", "In-scope accuracy", pct(r.accuracy), prev ? [deltaChip(prev.accuracy, r.accuracy), " vs. previous"] : "messages of a known intent matched right",
        accuracyLevel(r.accuracy)),
      kpi("eval-oos", "Out-of-scope rejection", pct(r.oos_rejection), prev ? [deltaChip(prev.oos_rejection, r.oos_rejection), " vs. previous"] : "off-topic messages the bot fell back on",
        accuracyLevel(r.oos_rejection)),
      kpi("eval-baseline", "Baseline (fuzzy matching)", pct(base.accuracy), "OOS rejection " + pct(base.oos_rejection) +
        (base.accuracy !== undefined ? " · the matcher adds " + points(base.accuracy, r.accuracy) : "")),
      kpi("eval-items", "Labelled messages", String(r.items), "overall " + pct(r.overall) + " right"),
      kpi("eval-latency", "Latency per message", (latency.p50 !== undefined ? latency.p50.toFixed(1) : "—") + " ms",
        "median · p95 " + (latency.p95 !== undefined ? latency.p95.toFixed(1) : "—") + " ms")
    ]));
    var cv = r.cross_validated;
    if (cv) {
      // Cross-validated: each of the brand's own examples read by a model trained without it.
      // These, not a set the examples were written beside, predict messages nobody has labelled.
      ui.evalResult.appendChild(el("div", { class: "op-kpis", "data-testid": "eval-cv" }, [
        kpi("eval-cv-accuracy", "Cross-validated accuracy", pct(cv.accuracy),
          "the brand's " + cv.items + " examples, each read by a model trained without it", accuracyLevel(cv.accuracy)),
        kpi("eval-cv-oos", "Cross-validated OOS rejection", pct(cv.oos_rejection),
          "out-of-scope examples it fell back on", accuracyLevel(cv.oos_rejection)),
        kpi("eval-calibration", "Calibration error", pct(r.calibration_error),
          "how far a confidence is from the share right at it, on " + r.set_name + "; cross-validated " + pct(cv.calibration_error))
      ]));
    }
    ui.evalResult.appendChild(reliabilityCard(r.reliability || [], cv ? cv.reliability : []));

    var grid = el("div", { class: "op-eval-grid" });
    var perIntentCard = el("div", { class: "op-card" }, [el("h3", { class: "op-h3", text: "Per intent" })]);
    var tableHolder = el("div", { class: "op-table-wrap", "data-testid": "eval-per-intent" });
    perIntentCard.appendChild(tableHolder);
    renderPerIntent(tableHolder, r.per_intent || {});
    grid.appendChild(perIntentCard);

    var confusions = r.confusions || [];
    var side = el("div", { class: "op-card" }, [el("h3", { class: "op-h3", text: "Top confusions" })]);
    if (confusions.length) {
      side.appendChild(el("ol", { class: "op-confusions", "data-testid": "eval-confusions" }, confusions.map(function (c) {
        return el("li", { "data-testid": "confusion" }, [
          intentLink(c.label), el("span", { class: "op-arrow", "aria-label": "taken for", text: "→" }), intentLink(c.predicted),
          el("span", { class: "op-count", text: "×" + c.count })
        ]);
      })));
    } else {
      side.appendChild(el("p", { class: "op-muted", "data-testid": "eval-confusions", text: "No confusions: every message was matched right." }));
    }
    var misses = r.misses || [];
    if (misses.length) {
      side.appendChild(el("h3", { class: "op-h3 op-mt", text: "Messages it got wrong" }));
      side.appendChild(el("ul", { class: "op-eval-misses", "data-testid": "eval-misses" }, misses.map(function (m) {
        return el("li", null, [
          el("p", { class: "op-eval-miss-text", text: m.text }),
          el("p", { class: "op-small op-muted" }, ["expected ", el("span", { class: "op-mono", text: m.label }), ", got ",
            el("span", { class: "op-mono", text: str(m.predicted) }), " (" + pct(m.confidence) + ")"])
        ]);
      })));
    }
    grid.appendChild(side);
    ui.evalResult.appendChild(grid);
  }

  // The reliability curve as a table: in each confidence band, how often the top intent was right.
  // Calibrated, the two columns agree, so one threshold means what it says.
  function reliabilityCard(onSet, crossValidated) {
    function cells(bins, low) {
      var bin = null;
      bins.forEach(function (b) {
        if (Math.abs(b.low - low) < 1e-9) {
          bin = b;
        }
      });
      return bin ? [el("td", { class: "op-num", text: pct(bin.right) }), el("td", { class: "op-num op-muted", text: String(bin.count) })]
        : [el("td", { class: "op-num op-muted", text: "—" }), el("td", { class: "op-num op-muted", text: "0" })];
    }
    var body = el("tbody");
    for (var i = 0; i < 10; i++) {
      var low = i / 10;
      body.appendChild(el("tr", { "data-testid": "reliability-row" }, [
        el("td", { class: "op-mono", text: pct(low) + "–" + pct(low + 0.1) })
      ].concat(cells(onSet, low), cells(crossValidated, low))));
    }
    return el("div", { class: "op-card op-mt", "data-testid": "eval-reliability" }, [
      el("h3", { class: "op-h3", text: "Is the confidence honest?" }),
      el("p", { class: "op-small op-muted", text: "For each band of reported confidence: how often the top intent was the right one. " +
        "When they agree, the brand's threshold means what it says." }),
      el("div", { class: "op-table-wrap" }, [el("table", { class: "op-table" }, [
        el("thead", null, [el("tr", null, [
          el("th", { scope: "col", text: "Confidence" }),
          el("th", { scope: "col", class: "op-num", text: "Right (this set)" }), el("th", { scope: "col", class: "op-num", text: "Messages" }),
          el("th", { scope: "col", class: "op-num", text: "Right (cross-validated)" }), el("th", { scope: "col", class: "op-num", text: "Examples" })
        ])]),
        body
      ])])
    ]);
  }

  function renderPerIntent(holder, perIntent) {
    var names = Object.keys(perIntent);
    var key = state.evalSort.key;
    var dir = state.evalSort.dir;
    names.sort(function (a, b) {
      var x = key === "name" ? a : perIntent[a][key === "f1" ? "f1-score" : key];
      var y = key === "name" ? b : perIntent[b][key === "f1" ? "f1-score" : key];
      if (x < y) {
        return -dir;
      }
      if (x > y) {
        return dir;
      }
      return a < b ? -1 : 1;
    });
    var columns = [["name", "Intent"], ["precision", "Precision"], ["recall", "Recall"], ["f1", "F1"], ["support", "Support"]];
    var headRow = el("tr");
    columns.forEach(function (c) {
      var sorted = key === c[0];
      var b = el("button", { type: "button", class: "op-sort", text: c[1] + (sorted ? (dir > 0 ? " ▲" : " ▼") : "") });
      b.addEventListener("click", function () {
        state.evalSort = { key: c[0], dir: sorted ? -dir : 1 };
        renderPerIntent(holder, perIntent);
      });
      headRow.appendChild(el("th", { scope: "col", class: c[0] === "name" ? "" : "op-num",
        "aria-sort": sorted ? (dir > 0 ? "ascending" : "descending") : null }, [b]));
    });
    headRow.appendChild(el("th", { scope: "col", text: "Confused with" }));
    var body = el("tbody");
    names.forEach(function (name) {
      var s = perIntent[name];
      var confused = Object.keys(s.confused_with || {}).map(function (other) {
        return other + " ×" + s.confused_with[other];
      }).join(", ");
      body.appendChild(el("tr", { "data-testid": "eval-intent-row", "data-intent": name }, [
        el("td", null, [intentLink(name)]),
        el("td", { class: "op-num", text: pct(s.precision, 0) }),
        el("td", { class: "op-num", text: pct(s.recall, 0) }),
        el("td", { class: "op-num op-f1" }, [bar(s["f1-score"], "op-bar-" + accuracyLevel(s["f1-score"])),
          el("span", { text: s["f1-score"].toFixed(2) })]),
        el("td", { class: "op-num", text: String(s.support) }),
        el("td", { class: "op-small op-muted", text: confused })
      ]));
    });
    clear(holder);
    holder.appendChild(el("table", { class: "op-table op-table-compact" }, [el("thead", null, [headRow]), body]));
  }

  // ========================================================== Analytics ==

  function loadAnalytics() {
    ui.analyticsRefresh.disabled = true;
    show(ui.analyticsError, false);
    api("GET", "/api/operator/analytics" + brandQuery("&days=" + encodeURIComponent(ui.analyticsDays.value))).then(function (data) {
      renderAnalytics(data);
    }, function (error) {
      ui.analyticsError.textContent = "Could not load the figures: " + error.detail;
      show(ui.analyticsError, true);
    }).then(function () {
      ui.analyticsRefresh.disabled = false;
    });
  }

  ui.analyticsDays.addEventListener("change", loadAnalytics);
  ui.analyticsRefresh.addEventListener("click", loadAnalytics);

  function weighted(days, value, weight) {
    var num = 0;
    var den = 0;
    days.forEach(function (d) {
      if (d[value] !== null && d[value] !== undefined && d[weight]) {
        num += d[value] * d[weight];
        den += d[weight];
      }
    });
    return den ? num / den : null;
  }

  function sum(days, key) {
    return days.reduce(function (total, d) {
      return total + (d[key] || 0);
    }, 0);
  }

  function renderAnalytics(data) {
    var days = data.days || [];
    var conversations = sum(days, "conversations");
    var handoffs = sum(days, "handoffs");
    var ratings = sum(days, "ratings");
    var rating = weighted(days, "rating", "ratings");
    clear(ui.analyticsKpis);
    append(ui.analyticsKpis, [
      kpi("kpi-conversations", "Conversations", String(conversations), "in " + plural(days.length, "day")),
      kpi("kpi-containment", "Containment", pct(weighted(days, "containment", "conversations")), "closed by the bot alone"),
      kpi("kpi-handoff-rate", "Handoff rate", conversations ? pct(handoffs / conversations) : "—", plural(handoffs, "handoff")),
      kpi("kpi-service-level", "Answered within 5 min", pct(weighted(days, "within_5_min", "handoffs")),
        "within 10 min: " + pct(weighted(days, "within_10_min", "handoffs"))),
      kpi("kpi-fallback", "Fallback rate", pct(weighted(days, "fallback_rate", "bot_replies")), "of " + plural(sum(days, "bot_replies"), "bot reply", "bot replies")),
      kpi("kpi-rating", "Rating", rating === null ? "—" : rating.toFixed(1) + " / 5", plural(ratings, "rating"))
    ]);

    clear(ui.analyticsCharts);
    var labels = days.map(function (d) {
      return d.day;
    });
    function series(key) {
      return days.map(function (d) {
        return d[key] === undefined ? null : d[key];
      });
    }
    var reasons = (data.handoff_reasons || []).map(function (r) {
      return { label: HANDOFF_REASONS[r.reason] || r.reason, value: r.handoffs };
    });
    var intents = (data.top_intents || []).map(function (r) {
      return { label: r.intent, value: r.replies };
    });
    append(ui.analyticsCharts, [
      chartCard("chart-conversations", "Conversations", "per day",
        barChart(labels, series("conversations"), { format: String, title: "Conversations per day" }),
        tableOf(labels, [["Conversations", series("conversations"), String]])),
      chartCard("chart-containment", "Containment", "share of conversations closed by the bot alone",
        lineChart(labels, [{ name: "Containment", values: series("containment"), cls: "s1" }], { title: "Containment per day" }),
        tableOf(labels, [["Containment", series("containment"), pct]])),
      chartCard("chart-handoffs", "Handoff rate", "handoffs per conversation",
        lineChart(labels, [{ name: "Handoff rate", values: series("handoff_rate"), cls: "s2" }], { title: "Handoff rate per day" }),
        tableOf(labels, [["Handoffs", series("handoffs"), String], ["Handoff rate", series("handoff_rate"), pct]])),
      chartCard("chart-handoff-reasons", "Handoff reasons", "in the period",
        hbarChart(reasons, { title: "Handoff reasons", empty: "No handoffs in this period." }), null),
      chartCard("chart-service-level", "First-response service level", "handoffs answered by a person within 5 and 10 minutes",
        lineChart(labels, [{ name: "Within 5 min", values: series("within_5_min"), cls: "s1" },
          { name: "Within 10 min", values: series("within_10_min"), cls: "s3" }], { title: "First-response service level per day" }),
        tableOf(labels, [["Within 5 min", series("within_5_min"), pct], ["Within 10 min", series("within_10_min"), pct]]),
        [["Within 5 min", "s1"], ["Within 10 min", "s3"]]),
      chartCard("chart-fallback", "Fallback rate", "bot replies that fell back",
        lineChart(labels, [{ name: "Fallback rate", values: series("fallback_rate"), cls: "s4" }], { title: "Fallback rate per day" }),
        tableOf(labels, [["Bot replies", series("bot_replies"), String], ["Fallback rate", series("fallback_rate"), pct]])),
      chartCard("chart-top-intents", "Top intents", "bot replies per intent in the period",
        hbarChart(intents, { title: "Top intents", empty: "No bot replies in this period." }), null),
      chartCard("chart-ratings", "Ratings", "average customer rating after a handoff (1 to 5)",
        barChart(labels, series("rating"), { format: function (v) { return v === null ? "—" : v.toFixed(1); }, max: 5, ticks: [0, 1, 2, 3, 4, 5],
          title: "Average rating per day", cls: "s5", counts: series("ratings") }),
        tableOf(labels, [["Average rating", series("rating"), function (v) { return v === null ? "—" : v.toFixed(1); }], ["Ratings", series("ratings"), String]]))
    ]);
  }

  function chartCard(testid, title, subtitle, chart, table, legend) {
    var id = testid + "-title";
    chart.setAttribute("aria-labelledby", id);
    return el("section", { class: "op-card op-chart-card", "data-testid": testid, "aria-labelledby": id }, [
      el("h3", { class: "op-h3", id: id, text: title }),
      el("p", { class: "op-small op-muted", text: subtitle }),
      legend ? el("ul", { class: "op-legend-list", "aria-label": "Legend" }, legend.map(function (item) {
        return el("li", null, [el("span", { class: "op-swatch " + item[1], "aria-hidden": "true" }), item[0]]);
      })) : null,
      chart,
      table ? el("details", { class: "op-chart-table" }, [el("summary", { text: "Show the numbers" }), table]) : null
    ]);
  }

  function tableOf(labels, columns) {
    return el("div", { class: "op-table-wrap" }, [el("table", { class: "op-table op-table-compact" }, [
      el("thead", null, [el("tr", null, [el("th", { scope: "col", text: "Day" })].concat(columns.map(function (c) {
        return el("th", { scope: "col", class: "op-num", text: c[0] });
      })))]),
      el("tbody", null, labels.map(function (label, i) {
        return el("tr", null, [el("td", { text: fmtDay(label, true) })].concat(columns.map(function (c) {
          var v = c[1][i];
          return el("td", { class: "op-num", text: v === null || v === undefined ? "—" : c[2](v) });
        })));
      }))
    ])]);
  }

  // -- SVG charts, drawn by hand --

  var CHART = { w: 640, h: 220, left: 44, right: 14, top: 14, bottom: 30 };

  // Axis ticks for counts: 0 to a round top in 4 whole, round steps (0, 10, 20, 30, 40).
  function countTicks(value) {
    var raw = Math.max(1, value) / 4;
    var exp = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) {
      return m * exp;
    }).filter(function (v) {
      return v >= raw && v === Math.round(v);
    })[0] || Math.ceil(raw);
    return [0, step, 2 * step, 3 * step, 4 * step];
  }

  function frame(labels, options, yTicks, yFormat) {
    var c = CHART;
    var root = svg("svg", { class: "op-chart", viewBox: "0 0 " + c.w + " " + c.h, role: "img", preserveAspectRatio: "xMidYMid meet" });
    if (options.title) {
      root.appendChild(svg("title", { text: options.title }));
    }
    var plotH = c.h - c.top - c.bottom;
    var max = yTicks[yTicks.length - 1];
    yTicks.forEach(function (t) {
      var y = c.top + plotH - (t / max) * plotH;
      root.appendChild(svg("line", { class: "op-grid-line" + (t === 0 ? " is-base" : ""), x1: c.left, x2: c.w - c.right, y1: y, y2: y }));
      root.appendChild(svg("text", { class: "op-axis-label", x: c.left - 8, y: y + 4, "text-anchor": "end", text: yFormat(t) }));
    });
    var n = labels.length;
    var band = (c.w - c.left - c.right) / Math.max(1, n);
    var step = Math.max(1, Math.ceil(n / 8));
    labels.forEach(function (label, i) {
      if ((n - 1 - i) % step === 0) {
        root.appendChild(svg("text", { class: "op-axis-label", x: c.left + band * (i + 0.5), y: c.h - 10, "text-anchor": "middle",
          text: fmtDay(label) }));
      }
    });
    return { root: root, band: band, plotH: plotH, max: max, x: function (i) {
      return c.left + band * (i + 0.5);
    }, y: function (v) {
      return c.top + plotH - (Math.min(v, max) / max) * plotH;
    } };
  }

  function noData(f, text) {
    f.root.appendChild(svg("text", { class: "op-chart-empty", x: CHART.w / 2, y: CHART.top + f.plotH / 2, "text-anchor": "middle",
      text: text || "No data in this period" }));
  }

  function barChart(labels, values, options) {
    var present = values.filter(function (v) {
      return v !== null && v !== undefined;
    });
    var ticks = options.ticks || countTicks(Math.max.apply(null, [0].concat(present)));
    var f = frame(labels, options, ticks, function (t) {
      return Number.isInteger(t) ? String(t) : t.toFixed(1);
    });
    var width = Math.max(2, Math.min(28, f.band * 0.64));
    values.forEach(function (v, i) {
      if (v === null || v === undefined) {
        return;
      }
      var y = f.y(v);
      var h = Math.max(v > 0 ? 1.5 : 0, CHART.top + f.plotH - y);
      var note = options.counts ? " (" + plural(options.counts[i] || 0, "rating") + ")" : "";
      f.root.appendChild(svg("rect", { class: "op-bar-rect " + (options.cls || "s1"), x: f.x(i) - width / 2, y: CHART.top + f.plotH - h,
        width: width, height: h, rx: 2 }, [svg("title", { text: fmtDay(labels[i], true) + ": " + options.format(v) + note })]));
    });
    if (!present.some(function (v) {
      return v > 0;
    })) {
      noData(f);
    }
    return f.root;
  }

  function lineChart(labels, seriesList, options) {
    var f = frame(labels, options, [0, 0.25, 0.5, 0.75, 1], function (t) {
      return Math.round(t * 100) + "%";
    });
    var any = false;
    seriesList.forEach(function (s) {
      var d = "";
      var pen = false;
      s.values.forEach(function (v, i) {
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        any = true;
        d += (pen ? " L " : " M ") + f.x(i).toFixed(1) + " " + f.y(v).toFixed(1);
        pen = true;
      });
      if (d) {
        f.root.appendChild(svg("path", { class: "op-line " + s.cls, d: d.trim() }));
      }
      s.values.forEach(function (v, i) {
        if (v === null || v === undefined) {
          return;
        }
        f.root.appendChild(svg("circle", { class: "op-dot " + s.cls, cx: f.x(i), cy: f.y(v), r: 3.5 }, [
          svg("title", { text: s.name + ", " + fmtDay(labels[i], true) + ": " + pct(v) })
        ]));
      });
    });
    if (!any) {
      noData(f);
    }
    return f.root;
  }

  function hbarChart(items, options) {
    var rowH = 26;
    var labelW = 170;
    var h = Math.max(1, items.length) * rowH + 10;
    var w = CHART.w;
    var root = svg("svg", { class: "op-chart op-hbar", viewBox: "0 0 " + w + " " + h, role: "img" });
    root.appendChild(svg("title", { text: options.title }));
    if (!items.length) {
      root.setAttribute("viewBox", "0 0 " + w + " 60");
      root.appendChild(svg("text", { class: "op-chart-empty", x: w / 2, y: 34, "text-anchor": "middle", text: options.empty }));
      return root;
    }
    var max = Math.max.apply(null, items.map(function (i) {
      return i.value;
    })) || 1;
    var total = items.reduce(function (t, i) {
      return t + i.value;
    }, 0);
    items.forEach(function (item, i) {
      var y = 5 + i * rowH;
      var barW = Math.max(2, ((w - labelW - 70) * item.value) / max);
      var label = item.label.length > 24 ? item.label.slice(0, 23) + "…" : item.label;
      root.appendChild(svg("text", { class: "op-hbar-label", x: labelW - 10, y: y + 16, "text-anchor": "end", text: label }));
      root.appendChild(svg("rect", { class: "op-bar-rect s" + ((i % 5) + 1), x: labelW, y: y + 4, width: barW, height: rowH - 10, rx: 3 }, [
        svg("title", { text: item.label + ": " + item.value + " (" + pct(item.value / total) + ")" })
      ]));
      root.appendChild(svg("text", { class: "op-hbar-value", x: labelW + barW + 8, y: y + 16, text: String(item.value) }));
    });
    return root;
  }

  // ============================================================= Policy ==

  function loadPolicy() {
    return api("GET", "/api/operator/policy" + brandQuery()).then(function (data) {
      state.loaded.policy = true;
      state.policy = data;
      state.policySaved = data.text || "";
      state.policyVersion = data.version;
      ui.policyTitle.textContent = data.title || "Policy";
      ui.policyText.value = state.policySaved;
      if (data.sections) {
        state.sections = data.sections;
      }
      renderSectionsList();
      onPolicyEdit();
      loadPolicyVersions();
    }, function (error) {
      toast("Could not load the policy: " + error.detail, "danger");
    });
  }

  function loadPolicyVersions() {
    return api("GET", "/api/operator/policy/versions" + brandQuery()).then(function (data) {
      renderPolicyVersions(data.versions || []);
    }, function (error) {
      toast("Could not load the policy's earlier versions: " + error.detail, "danger");
    });
  }

  function renderPolicyVersions(versions) {
    clear(ui.policyVersions);
    if (!versions.length) {
      ui.policyVersions.appendChild(el("li", { class: "op-muted", text: "None yet: the policy has not been saved here." }));
      return;
    }
    versions.forEach(function (v) {
      var load = el("button", { type: "button", class: "op-btn op-btn-sm", "data-testid": "policy-version-load",
        title: "Put this text in the editor; save to restore it", text: "Load" });
      load.addEventListener("click", function () {
        ui.policyText.value = v.text;
        onPolicyEdit();
        toast("Loaded the text from before the save of " + fmtWhen(v.replaced_at) + ". Save the policy to restore it.", "info");
      });
      ui.policyVersions.appendChild(el("li", { "data-testid": "policy-version", "data-version": String(v.id) }, [
        el("span", { class: "op-small", text: "Before " + fmtWhen(v.replaced_at) + (v.replaced_by ? ", by " + v.replaced_by : "") }),
        load
      ]));
    });
  }

  function renderSectionsList() {
    clear(ui.policySections);
    sectionKeys(state.sections).forEach(function (number) {
      var citing = state.intents.filter(function (i) {
        return i.policy_section === number;
      }).length;
      ui.policySections.appendChild(el("li", { "data-testid": "policy-section", "data-section": number }, [
        el("span", { class: "op-section-number", text: number }),
        sectionJump(number, state.sections[number]),
        el("span", { class: "op-small op-muted", text: citing ? plural(citing, "intent") : "" })
      ]));
    });
  }

  function escapeRegExp(text) {
    return String(text).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  // Where a section starts in the policy text: a line with its number and title
  // (the rule the server's split_sections uses).
  function sectionStart(text, number) {
    var title = state.sections[number] || "";
    var match = new RegExp("^[ \\t]*" + escapeRegExp(number) + "\\.?[ \\t]+" + escapeRegExp(title), "im").exec(text);
    if (!match) {
      return null;
    }
    var lead = match[0].length - match[0].replace(/^[ \t]+/, "").length;
    return { index: match.index + lead, length: match[0].length - lead };
  }

  function sectionJump(number, title) {
    var b = el("button", { type: "button", class: "op-link op-section-title", "data-testid": "section-jump",
      title: "Show section " + number + " in the text", text: title || "(untitled)" });
    b.addEventListener("click", function () {
      jumpToSection(number);
    });
    return b;
  }

  // Select the section's heading in the textarea and scroll it into view. The
  // offset is measured on an invisible copy holding the text before it, so
  // wrapped lines count.
  function jumpToSection(number) {
    var ta = ui.policyText;
    var at = sectionStart(ta.value, number);
    if (!at) {
      toast("Section " + number + " is not in the text: a section starts with a line holding its number and title.", "danger");
      return;
    }
    var probe = el("textarea", { class: ta.className + " op-measure", "aria-hidden": "true", tabindex: "-1" });
    probe.style.width = ta.offsetWidth + "px";
    probe.value = ta.value.slice(0, at.index);
    document.body.appendChild(probe);
    var y = probe.scrollHeight;
    probe.remove();
    ta.focus();
    ta.setSelectionRange(at.index, at.index + at.length);
    ta.scrollTop = Math.max(0, y - 60);
  }

  function onPolicyEdit() {
    var dirty = ui.policyText.value !== state.policySaved;
    ui.policySave.disabled = !dirty;
    ui.policyRevert.disabled = !dirty;
    show(ui.policyDirty, dirty);
  }

  ui.policyText.addEventListener("input", onPolicyEdit);
  ui.policyRevert.addEventListener("click", function () {
    ui.policyText.value = state.policySaved;
    onPolicyEdit();
  });

  ui.policySave.addEventListener("click", function () {
    var text = ui.policyText.value;
    if (!text.trim()) {
      toast("The policy cannot be empty.", "danger");
      return;
    }
    ui.policySave.disabled = true;
    ui.policySave.textContent = "Saving…";
    var body = { text: text };
    if (state.policyVersion !== undefined) {
      body.base_version = state.policyVersion;  // refused (409) if someone saved the policy since
    }
    api("PUT", "/api/operator/policy" + brandQuery(), body).then(function (result) {
      state.policySaved = text;
      state.policyVersion = result.version;
      renderPolicyResult(result);
      reloadListing();
      loadPolicyVersions();
    }, function (error) {
      clear(ui.policyResult);
      var alert = el("div", { class: "op-alert op-alert-danger", role: "alert", "data-testid": "policy-save-error",
        text: "Not saved: " + error.detail });
      if (error.code === "stale_version") {
        var reload = el("button", { type: "button", class: "op-btn op-btn-sm", "data-testid": "policy-stale-reload",
          text: "Load the latest policy (your edit here is discarded)" });
        reload.addEventListener("click", function () {
          clear(ui.policyResult);
          show(ui.policyResult, false);
          loadPolicy();
        });
        alert.appendChild(el("span", { class: "op-alert-actions" }, [reload]));
      }
      ui.policyResult.appendChild(alert);
      show(ui.policyResult, true);
    }).then(function () {
      ui.policySave.textContent = "Save policy";
      onPolicyEdit();
    });
  });

  function renderPolicyResult(result) {
    clear(ui.policyResult);
    var changed = result.changed_sections || [];
    var review = result.intents_to_review || [];
    append(ui.policyResult, [
      el("h3", { class: "op-h3", text: "Policy saved" }),
      el("p", { class: "op-small op-muted", text: "The bot cites the new text from now on." }),
      el("h4", { class: "op-h4", text: "Changed sections" }),
      changed.length ? el("ul", { class: "op-changed", "data-testid": "policy-changed" }, changed.map(function (s) {
        return el("li", { "data-testid": "changed-section", "data-section": s }, [
          el("span", { class: "op-section-number", text: s }),
          sectionJump(s, state.sections[s])
        ]);
      })) : el("p", { class: "op-muted", "data-testid": "policy-changed", text: "None of the numbered sections changed." }),
      el("h4", { class: "op-h4", text: "Intents to review" }),
      review.length ? el("p", { class: "op-small op-muted", text: "They cite a changed section: check that their answers still say what the policy says." }) : null,
      review.length ? el("ul", { class: "op-review", "data-testid": "policy-review" }, review.map(function (name) {
        var info = intentInfo(name);
        return el("li", null, [
          el("a", { href: "#intents/" + encodeURIComponent(name), class: "op-mono", "data-testid": "review-link", "data-intent": name, text: name }),
          info && info.policy_section ? el("span", { class: "op-small op-muted", text: " § " + info.policy_section }) : null
        ]);
      })) : el("p", { class: "op-muted", "data-testid": "policy-review", text: "No intent cites a changed section." }),
      replyReview(result)
    ]);
    show(ui.policyResult, true);
  }

  // The wording of record and handoff answers (intents/<brand>/replies.yaml)
  // and the record answers whose citation is a changed section.
  function replyReview(result) {
    var replies = result.replies_to_review || [];
    var answers = result.record_answers_to_review || [];
    var items = replies.map(function (key) {
      return el("li", { "data-testid": "reply-to-review", "data-key": key }, [
        el("span", { class: "op-mono", text: key }),
        el("span", { class: "op-small op-muted", text: " in replies.yaml" })
      ]);
    }).concat(answers.map(function (action) {
      return el("li", { "data-testid": "record-answer-to-review", "data-action": action }, [
        el("span", { class: "op-mono", text: action }),
        el("span", { class: "op-small op-muted", text: " (the record answer's citation, brand.yaml rules)" })
      ]);
    }));
    return el("div", null, [
      el("h4", { class: "op-h4", text: "Answers to review" }),
      items.length
        ? el("ul", { class: "op-review", "data-testid": "reply-review" }, items)
        : el("p", { class: "op-muted", "data-testid": "reply-review", text: "No answer template cites a changed section." })
    ]);
  }

  // ================================================================ boot ==

  if (state.token) {
    start();
  } else {
    showLogin();
  }
})();
