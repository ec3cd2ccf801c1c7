/*
 * Support chatbot: the DOM and storage helpers the three consoles share
 * (agent.html, supervisor.html, operator.html load it before their own script).
 *
 * Elements are built with createElement and textContent only: text from the
 * server or a customer is never parsed as HTML. The widget keeps its own copy
 * of these few lines, as it is one script embedded on other sites.
 */
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  // attrs: "class", "text" (textContent) or any attribute; null, undefined
  // and false are left out, true is an empty attribute
  function setAttrs(node, attrs) {
    if (!attrs) {
      return;
    }
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "class") {
        node.setAttribute("class", value);
      } else if (name === "text") {
        node.textContent = value;
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    });
  }

  // children: nodes, or strings (as text nodes); null, undefined and false are skipped
  function append(node, children) {
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) {
        return;
      }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
    return node;
  }

  function show(node, visible) {
    if (visible) {
      node.removeAttribute("hidden");
    } else {
      node.setAttribute("hidden", "");
    }
  }

  // localStorage, where the browser allows it: when it is blocked, a session
  // lasts as long as the page
  function store(key, value) {
    try {
      if (value === null || value === undefined) {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, value);
      }
    } catch (e) {
      /* storage blocked */
    }
  }

  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function loadJson(key) {
    try {
      return JSON.parse(load(key) || "null");
    } catch (e) {
      return null;
    }
  }

  window.ChatbotDom = Object.freeze({
    $: byId, el: el, setAttrs: setAttrs, append: append, clear: clear, show: show,
    store: store, load: load, loadJson: loadJson
  });
})();
