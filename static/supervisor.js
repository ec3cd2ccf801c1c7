/*
 * Support chatbot: the supervisor view (static/supervisor.html).
 *
 * Operators, and agents with the supervisor right, see their brand's service
 * levels live: agents online and their load, the queue, and the figures of
 * GET /api/supervisor (handoffs, share answered within 5 and 10 minutes,
 * median and 90th-percentile wait, breaches, abandoned, containment, rating,
 * and the Erlang C estimate of agents needed), refreshed every 5 seconds.
 *
 * Plain JavaScript, no build step; the DOM is built with createElement and
 * textContent only. See docs/handoff.md.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "chatbot.supervisor.token";
  var USER_KEY = "chatbot.supervisor.user";
  var AGENT_TOKEN_KEY = "chatbot.agent.token"; // a supervising agent comes from the console
  var AGENT_USER_KEY = "chatbot.agent.user";
  var REFRESH_MS = 5000;
  var TARGET_SHARE = 0.8;

  var dom = window.ChatbotDom;
  var $ = dom.$, el = dom.el, clear = dom.clear, show = dom.show;
  var store = dom.store, load = dom.load, loadJson = dom.loadJson;

  function str(v) {
    return v === null || v === undefined ? "" : String(v);
  }

  function humanize(code) {
    return str(code).replace(/_/g, " ");
  }

  function formatDuration(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (sec < 10 ? "0" : "") + sec;
  }

  function percent(share) {
    return typeof share === "number" ? Math.round(share * 100) + "%" : "—";
  }

  function minutes(seconds) {
    if (typeof seconds !== "number") {
      return "—";
    }
    return seconds < 60 ? Math.round(seconds) + " s" : formatDuration(seconds);
  }

  var REASONS = {
    human_agent: "Asked for a person",
    not_understood: "Not understood twice"
  };

  var ui = {
    loginScreen: $("login-screen"),
    loginForm: $("login-form"),
    loginBrand: $("login-brand"),
    loginEmail: $("login-email"),
    loginPassword: $("login-password"),
    loginError: $("login-error"),
    loginSubmit: $("login-submit"),
    app: $("app"),
    brandChip: $("brand-chip"),
    connection: $("connection"),
    connectionText: $("connection-text"),
    me: $("me"),
    logout: $("logout"),
    heading: $("heading"),
    updated: $("updated"),
    window: $("window"),
    kpis: $("kpis"),
    staffing: $("staffing"),
    agents: $("agents"),
    agentsCount: $("agents-count"),
    queue: $("queue"),
    queueCount: $("queue-count")
  };

  var state = {
    token: load(TOKEN_KEY),
    user: loadJson(USER_KEY),
    borrowed: false, // using the agent console's session
    timer: null,
    inFlight: false,
    data: null,
    skew: 0,
    lastOk: null
  };

  if (!state.token && load(AGENT_TOKEN_KEY)) {
    state.token = load(AGENT_TOKEN_KEY);
    state.user = loadJson(AGENT_USER_KEY);
    state.borrowed = true;
  }

  // -------------------------------------------------------------- HTTP --

  function api(path, options) {
    return dom.request(path, state.token, options);
  }

  // ------------------------------------------------------------ refresh --

  function setConnection(kind, text) {
    ui.connection.setAttribute("data-state", kind);
    ui.connectionText.textContent = text;
  }

  function schedule(delay) {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, delay);
  }

  function refresh() {
    if (!state.token || !state.user) {
      return;
    }
    if (state.inFlight) {
      schedule(REFRESH_MS);
      return;
    }
    state.inFlight = true;
    var path = "/api/supervisor?brand=" + encodeURIComponent(state.user.brand) + "&hours=" + encodeURIComponent(ui.window.value);
    api(path).then(function (r) {
      state.inFlight = false;
      if (r.status === 200 && r.body) {
        state.data = r.body;
        state.lastOk = new Date();
        setConnection("online", "Live · refreshed every 5 s");
        render();
      } else if (r.status === 401) {
        signedOut("Your session has ended. Please sign in again.");
        return;
      } else if (r.status === 403) {
        signedOut(state.borrowed
          ? "Your agent account does not have the supervisor right. Sign in as an operator."
          : "This account can't see the supervisor view.");
        return;
      } else {
        setConnection("error", "Could not refresh: " + str(r.body && (r.body.detail || r.body.error) || r.status));
      }
      schedule(REFRESH_MS);
    }, function () {
      state.inFlight = false;
      setConnection("reconnecting", "Server unreachable · retrying");
      schedule(REFRESH_MS);
    });
  }

  // ------------------------------------------------------------- render --

  function kpi(testid, label, value, note, levelName, share) {
    return el("article", { class: "sv-kpi", "data-testid": testid, "data-level": levelName || null }, [
      el("p", { class: "sv-kpi-label", text: label }),
      el("p", { class: "sv-kpi-value", "data-testid": testid + "-value", text: value }),
      note ? el("p", { class: "sv-kpi-note", text: note }) : null,
      typeof share === "number" ? el("div", { class: "sv-bar", "aria-hidden": "true" }, [
        barFill(share)
      ]) : null
    ]);
  }

  function barFill(share) {
    var fill = el("div", { class: "sv-bar-fill" });
    fill.style.width = Math.max(0, Math.min(100, share * 100)) + "%"; // CSSOM: allowed under style-src 'self'
    return fill;
  }

  function shareLevel(share, good, warn) {
    if (typeof share !== "number") {
      return null;
    }
    return share >= good ? "good" : share >= warn ? "warn" : "bad";
  }

  function windowText(d) {
    var h = d.window_hours;
    return h === 1 ? "last hour" : h === 168 ? "last 7 days" : "last " + h + " hours";
  }

  function render() {
    var d = state.data;
    if (!d) {
      return;
    }
    updateSkew(d.queue || []);
    ui.heading.textContent = "Service levels · " + str(d.brand);
    ui.updated.textContent = "Updated " + state.lastOk.toLocaleTimeString();
    var w = windowText(d);

    clear(ui.kpis);
    ui.kpis.appendChild(kpi("kpi-handoffs", "Handoffs", String(d.handoffs),
      w + (typeof d.conversations === "number" ? " · " + d.conversations + " conversations" : "")));
    ui.kpis.appendChild(kpi("kpi-within-5", "Answered within 5 min", percent(d.answered_within_5_min),
      typeof d.answered_within_5_min === "number" ? "first human reply · target 80%" : "nothing to measure yet", shareLevel(d.answered_within_5_min, TARGET_SHARE, 0.6), d.answered_within_5_min));
    ui.kpis.appendChild(kpi("kpi-within-10", "Answered within 10 min", percent(d.answered_within_10_min),
      typeof d.answered_within_10_min === "number" ? "first human reply" : "nothing to measure yet", shareLevel(d.answered_within_10_min, 0.95, 0.8), d.answered_within_10_min));
    ui.kpis.appendChild(kpi("kpi-median-wait", "Median wait", minutes(d.median_wait_seconds), "to the first human reply"));
    ui.kpis.appendChild(kpi("kpi-p90-wait", "90th percentile wait", minutes(d.p90_wait_seconds), "9 in 10 answered within"));
    ui.kpis.appendChild(kpi("kpi-breaches", "Breaches", String(d.breaches), "no reply by the breach time",
      d.breaches ? "bad" : "good"));
    ui.kpis.appendChild(kpi("kpi-abandoned", "Abandoned", String(d.abandoned), "left the queue before a reply",
      d.abandoned ? "warn" : null));
    ui.kpis.appendChild(kpi("kpi-containment", "Containment", percent(d.containment),
      "closed by the bot without a person", null, d.containment));
    ui.kpis.appendChild(kpi("kpi-rating", "Average rating",
      typeof d.average_rating === "number" ? d.average_rating.toFixed(1) + " / 5" : "—",
      d.ratings ? d.ratings + (d.ratings === 1 ? " rating" : " ratings") : "no ratings yet",
      typeof d.average_rating === "number" ? (d.average_rating >= 4 ? "good" : d.average_rating >= 3 ? "warn" : "bad") : null));

    var queue = d.queue || [];
    var longest = queue.reduce(function (m, item) {
      return Math.max(m, waited(item));
    }, 0);
    ui.kpis.appendChild(kpi("kpi-waiting", "Waiting now", String(queue.length),
      queue.length ? "longest " + formatDuration(longest) : "nobody in the queue",
      queue.some(function (i) {
        return i.breached;
      }) ? "bad" : queue.some(function (i) {
        return i.flagged;
      }) ? "warn" : null));

    renderStaffing(d);
    renderAgents(d.agents || []);
    renderQueue(d.queue || []);
  }

  function renderStaffing(d) {
    var online = (d.agents || []).filter(function (a) {
      return a.status === "online";
    }).length;
    var needed = d.agents_needed_80_in_5_min;
    var rate = typeof d.arrivals_per_hour === "number" ? d.arrivals_per_hour : 0;
    var verdict;
    var lvl;
    if (!rate) {
      verdict = "No handoffs arriving now: no agent is needed for the target.";
      lvl = "good";
    } else if (online >= needed) {
      verdict = "Staffed for the target" + (online > needed ? " (" + (online - needed) + " spare)" : "") + ".";
      lvl = "good";
    } else {
      verdict = "Understaffed: " + (needed - online) + " more agent" + (needed - online === 1 ? "" : "s") + " needed.";
      lvl = "bad";
    }
    var late = (d.queue || []).filter(function (i) {
      return i.flagged || i.breached;
    }).length;
    if (late && lvl === "good") {
      verdict += " But " + late + (late === 1 ? " chat is" : " chats are") + " waiting past the target now.";
      lvl = "warn";
    }
    clear(ui.staffing);
    ui.staffing.setAttribute("data-level", lvl);
    ui.staffing.appendChild(el("div", null, [
      el("p", { class: "sv-kpi-label", text: "Agents online" }),
      el("p", { class: "sv-big-figure", "data-testid": "agents-online", text: String(online) })
    ]));
    ui.staffing.appendChild(el("div", null, [
      el("p", { class: "sv-kpi-label", text: "Needed (Erlang C)" }),
      el("p", { class: "sv-big-figure", "data-testid": "agents-needed", text: typeof needed === "number" ? String(needed) : "—" })
    ]));
    var rateText = (Math.round(rate * 10) / 10) + " handoff" + (rate === 1 ? "" : "s") + " an hour";
    ui.staffing.appendChild(el("div", null, [
      el("p", { class: "sv-staffing-verdict", "data-testid": "staffing-verdict", text: verdict }),
      el("p", { class: "sv-staffing-text", text: "To answer 80% of chats within 5 minutes at " + rateText +
        " and " + minutes(d.mean_handle_seconds) + " per chat, Erlang C needs " + needed +
        " agent" + (needed === 1 ? "" : "s") + " online (each agent counted as one chat at a time)." })
    ]));
  }

  function statusCell(status) {
    return el("span", { class: "sv-status" }, [
      el("span", { class: "ac-dot ac-dot-" + str(status), "aria-hidden": "true" }),
      status === "online" ? "Online" : status === "away" ? "Away" : "Disconnected"
    ]);
  }

  function renderAgents(agents) {
    clear(ui.agents);
    var online = agents.filter(function (a) {
      return a.status === "online";
    }).length;
    ui.agentsCount.textContent = String(online);
    ui.agentsCount.setAttribute("data-level", online ? "busy" : "idle");
    if (!agents.length) {
      ui.agents.appendChild(el("p", { class: "sv-empty", text: "No agent is connected." }));
      return;
    }
    var rows = agents.slice().sort(function (a, b) {
      return str(a.name).localeCompare(str(b.name));
    }).map(function (a) {
      var chats = a.open_chats || 0;
      var squares = [];
      for (var i = 0; i < Math.min(chats, 10); i++) {
        squares.push(el("span"));
      }
      return el("tr", { "data-testid": "agent-row", "data-status": a.status }, [
        el("td", { text: str(a.name) }),
        el("td", null, [statusCell(a.status)]),
        el("td", { class: "sv-num" }, [el("span", { class: "sv-load", "aria-hidden": "true" }, squares), " ",
          el("span", { "data-testid": "agent-load", text: String(chats) })])
      ]);
    });
    ui.agents.appendChild(el("table", { class: "sv-table" }, [
      el("thead", null, [el("tr", null, [
        el("th", { scope: "col", text: "Agent" }), el("th", { scope: "col", text: "Status" }),
        el("th", { scope: "col", class: "sv-num", text: "Open chats" })
      ])]),
      el("tbody", null, rows)
    ]));
  }

  function updateSkew(items) {
    var best = null;
    items.forEach(function (item) {
      var q = Date.parse(item.queued_at);
      if (!isNaN(q) && typeof item.waited_seconds === "number") {
        var s = q + item.waited_seconds * 1000 - Date.now();
        best = best === null ? s : Math.max(best, s);
      }
    });
    if (best !== null) {
      state.skew = best;
    }
  }

  function waited(item) {
    var q = Date.parse(item.queued_at);
    return isNaN(q) ? item.waited_seconds || 0 : Math.max(0, (Date.now() + state.skew - q) / 1000);
  }

  function renderQueue(items) {
    updateSkew(items);
    clear(ui.queue);
    ui.queueCount.textContent = String(items.length);
    ui.queueCount.setAttribute("data-level", items.length ? "busy" : "idle");
    if (!items.length) {
      ui.queue.appendChild(el("p", { class: "sv-empty", text: "Nobody is waiting." }));
      return;
    }
    var rows = items.map(function (item, i) {
      var wait = el("span", {
        class: "ac-wait",
        "data-testid": "queue-wait",
        "data-level": item.breached ? "breach" : item.flagged ? "target" : "ok",
        text: formatDuration(waited(item))
      });
      wait._item = item;
      return el("tr", { "data-testid": "queue-row" }, [
        el("td", { class: "sv-num", text: String(i + 1) }),
        el("td", { text: str(item.customer && item.customer.name) }),
        el("td", null, [wait]),
        el("td", { text: (REASONS[item.reason] || humanize(item.reason)) +
          (item.intent && item.intent !== item.reason ? " · " + humanize(item.intent) : "") }),
        el("td", { class: "sv-preview", text: str(item.preview) }),
        el("td", null, [
          item.breached ? el("span", { class: "ac-badge ac-badge-breach", text: "Breached" })
            : item.flagged ? el("span", { class: "ac-badge ac-badge-target", text: "Over target" }) : null
        ])
      ]);
    });
    ui.queue.appendChild(el("table", { class: "sv-table" }, [
      el("thead", null, [el("tr", null, [
        el("th", { scope: "col", class: "sv-num", text: "#" }), el("th", { scope: "col", text: "Customer" }),
        el("th", { scope: "col", text: "Waiting" }), el("th", { scope: "col", text: "Why" }),
        el("th", { scope: "col", text: "Last message" }), el("th", { scope: "col", text: "" })
      ])]),
      el("tbody", null, rows)
    ]));
  }

  function tick() {
    Array.prototype.forEach.call(ui.queue.querySelectorAll("[data-testid=queue-wait]"), function (node) {
      if (node._item) {
        node.textContent = formatDuration(waited(node._item));
      }
    });
  }

  // -------------------------------------------------------- login/logout --

  function loginError(text) {
    ui.loginError.textContent = text;
    show(ui.loginError, !!text);
  }

  function showView() {
    var inside = !!(state.token && state.user);
    show(ui.loginScreen, !inside);
    show(ui.app, inside);
    if (inside) {
      ui.me.textContent = str(state.user.name);
      ui.brandChip.textContent = str(state.user.brand);
    }
  }

  function signedOut(reason) {
    clearTimeout(state.timer);
    if (!state.borrowed) {
      store(TOKEN_KEY, null);
      store(USER_KEY, null);
    }
    state.token = null;
    state.user = null;
    state.borrowed = false;
    state.data = null;
    showView();
    loginError(reason || "");
  }

  ui.loginForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var email = ui.loginEmail.value.trim();
    var password = ui.loginPassword.value;
    if (!email || !password) {
      loginError("Please enter your email and password.");
      return;
    }
    loginError("");
    ui.loginSubmit.disabled = true;
    ui.loginSubmit.textContent = "Signing in…";
    state.token = null;
    api("/api/login", { method: "POST", body: { brand: ui.loginBrand.value, email: email, password: password } }).then(function (r) {
      if (r.status === 200 && r.body && r.body.token) {
        var user = r.body.user || {};
        if (user.role !== "operator" && user.role !== "agent") {
          loginError("This account can't see the supervisor view.");
          return;
        }
        ui.loginPassword.value = "";
        state.token = r.body.token;
        state.user = user;
        state.borrowed = false;
        store(USER_KEY, JSON.stringify(user));
        store(TOKEN_KEY, state.token);
        showView();
        setConnection("connecting", "Loading…");
        refresh();
      } else if (r.status === 401) {
        loginError("Wrong email or password for this brand.");
      } else if (r.status === 429) {
        loginError("Too many attempts. Please wait a few minutes and try again.");
      } else {
        loginError(r.body && r.body.detail ? String(r.body.detail) : "Sign-in failed. Please try again.");
      }
    }, function () {
      loginError("Can't reach the server. Check your connection and try again.");
    }).then(function () {
      ui.loginSubmit.disabled = false;
      ui.loginSubmit.textContent = "Sign in";
    });
  });

  ui.logout.addEventListener("click", function () {
    if (state.token && !state.borrowed) {
      api("/api/logout", { method: "POST" }).catch(function () {});
    }
    var borrowed = state.borrowed;
    signedOut("");
    if (borrowed) {
      loginError("You left the supervisor view; your agent console session is still signed in.");
    }
  });

  ui.window.addEventListener("change", function () {
    refresh();
  });

  setInterval(tick, 1000);
  showView();
  if (state.token && state.user) {
    refresh();
  } else if (state.token) {
    api("/api/me").then(function (r) {
      if (r.status === 200 && r.body && r.body.user) {
        state.user = r.body.user;
        showView();
        refresh();
      } else {
        signedOut("");
      }
    });
  } else {
    ui.loginEmail.focus();
  }
})();
