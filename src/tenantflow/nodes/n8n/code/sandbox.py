"""The JavaScript Code node's sandbox runner: each job in a new process with a fresh V8 isolate.

A job runs in its own short-lived process rather than inside the service because V8 aborts the whole process
when a script exhausts its heap; that kills only the job's process, which the service reports as a
memory-limit error. A new process per job also means a new isolate: nothing a script leaves on
``globalThis`` can reach another run. Starting Python and importing ``py_mini_racer`` costs ~70 ms, so the
fork server (:mod:`forkserver`: ``python -I forkserver.py sandbox.py``, empty environment) pays it once and
forks a child per job; V8 itself starts only in the child. Data crosses the boundary as JSON only, and the
isolate has no Python callbacks, modules, timers, network or filesystem.

Kept free of ``tenantflow`` imports: what runs next to user code is stdlib and ``py_mini_racer``.
"""

from __future__ import annotations

import json
import math
import resource
from pathlib import Path
from typing import Any

from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException, MiniRacer, init_mini_racer

PRELUDE = r"""
'use strict';
delete globalThis.WebAssembly;
const __tfStringify = JSON.stringify;

const __tfShow = (value) => {
  if (typeof value === 'string') return value;
  try { return JSON.stringify(value); } catch (e) { return String(value); }
};

function __tfConsole(logs) {
  const write = (level) => (...args) => {
    if (logs.length < 100) logs.push([level, args.map(__tfShow).join(' ')]);
  };
  const info = write('info');
  return { log: info, info, debug: write('debug'), warn: write('warn'), error: write('error') };
}

// Another node's recorded runs, as the service sent them: runs[r][b] is output b of run r, defaults[r] the
// output read when none is named.
function __tfRunsOf(name, data) {
  if (data.runs === undefined) {
    throw new Error(`Node '${name}' hasn't been executed`);
  }
  return (branch, run) => {
    const runIndex = run === undefined || run === -1 ? data.runs.length - 1 : run;
    const outputs = data.runs[runIndex];
    if (outputs === undefined) throw new Error(`Run ${runIndex} of node "${name}" not found`);
    return outputs[branch === undefined ? data.defaults[runIndex] : branch] || [];
  };
}

function __tfNodeAccessor(job, paired, itemIndex) {
  return (name) => {
    if (!job.nodeNames.includes(name)) throw new Error("Referenced node doesn't exist");
    const data = job.nodes[name] || {};
    const output = (branch, run) => __tfRunsOf(name, data)(branch, run);
    // The item an input item derives from, as the engine resolved it; the same index when not resolved.
    const pairedWith = (index) => {
      const entry = (paired[name] || [])[index];
      if (entry === undefined) return output()[index];
      if (entry.error !== undefined) throw new Error(entry.error);
      return entry.item;
    };
    return {
      all: (branch, run) => output(branch, run),
      first: (branch, run) => output(branch, run)[0],
      last: (branch, run) => { const items = output(branch, run); return items[items.length - 1]; },
      get item() { return pairedWith(itemIndex === null ? 0 : itemIndex); },
      itemMatching: (index) => pairedWith(index),
      pairedItem: (index) => pairedWith(index === undefined ? (itemIndex === null ? 0 : itemIndex) : index),
      isExecuted: data.runs !== undefined,
      params: data.parameter,
      context: data.context,
    };
  };
}

// n8n's legacy $node["Name"]: the item at the current index of the node's output (item 0 in the Function
// node), its binary metadata, parameters, last run index and context; read lazily, so a missing item
// only fails the script that reads it.
function __tfLegacyNodes(job, itemIndex) {
  const index = itemIndex === null ? 0 : itemIndex;
  const view = (name) => {
    const data = job.nodes[name] || {};
    const item = () => {
      const items = data.runs === undefined ? [] : __tfRunsOf(name, data)();
      if (items.length === 0) throw new Error(`Node '${name}' hasn't been executed`);
      if (items.length <= index) {
        const count = `"${name}" node has ${items.length} item(s)`;
        throw new Error(`${count} but you're trying to access item ${index}`);
      }
      return items[index];
    };
    const binary = () => {
      const metadata = {};
      for (const [key, value] of Object.entries(item().binary || {})) {
        const { data: _content, ...rest } = value;
        metadata[key] = rest;
      }
      return metadata;
    };
    return {
      get json() { return item().json; },
      get data() { return item().json; },
      get binary() { return binary(); },
      get parameter() { return data.parameter; },
      get context() { return data.context; },
      get runIndex() { return data.runs === undefined ? -1 : data.runs.length - 1; },
    };
  };
  return new Proxy({}, {
    has: () => true,
    get(_, name) {
      if (typeof name !== 'string' || !job.nodeNames.includes(name)) {
        if (typeof name === 'symbol') return undefined;
        throw new Error("Referenced node doesn't exist");
      }
      return view(name);
    },
  });
}

// The Function Item node's binary helpers work on the item's own copy, which is what its output carries.
function __tfBinaryHelpers(whole) {
  const set = (data) => { whole.binary = data; };
  return {
    getBinaryData: () => whole.binary,
    setBinaryData: set,
    getBinaryDataAsync: async () => whole.binary,
    setBinaryDataAsync: async (data) => {
      if (!data) throw new Error('No data was provided to setBinaryDataAsync (data: IBinaryKeyData).');
      set(data);
    },
  };
}

// The Function node's: the same, on an item the script names.
const __tfItemBinaryHelpers = {
  getBinaryDataAsync: async (item) => item && item.binary,
  setBinaryDataAsync: async (item, data) => {
    const signature = '(item: INodeExecutionData, data: IBinaryKeyData).';
    if (!item) throw new Error(`No item was provided to setBinaryDataAsync ${signature}`);
    if (!data) throw new Error(`No data was provided to setBinaryDataAsync ${signature}`);
    item.binary = data;
  },
};

function __tfScope(job, items, itemIndex, logs, staticData) {
  const whole = itemIndex === null ? undefined : items[itemIndex];
  const item = whole !== undefined && job.mode === 'functionItem' ? whole.json : whole;
  const $input = {
    all: () => items,
    first: () => items[0],
    last: () => items[items.length - 1],
    item,
    params: job.params,
  };
  // The workflow's static data when the script asks for it (job.staticData), handed back in the reply.
  const staticOf = (type) => staticData[type === 'node' ? 'node' : 'global'];
  const binaryHelpers = whole === undefined ? __tfItemBinaryHelpers : __tfBinaryHelpers(whole);
  return {
    $input, items, item, $item: (index) => items[index],
    $json: whole === undefined ? (items[0] || {}).json : whole.json,
    $binary: whole === undefined ? undefined : whole.binary,
    $itemIndex: itemIndex === null ? 0 : itemIndex,
    $runIndex: job.runIndex, $vars: job.vars, $workflow: job.workflow, $execution: job.execution,
    $node: __tfLegacyNodes(job, itemIndex),
    $: __tfNodeAccessor(job, job.pairedItems || {}, itemIndex),
    getWorkflowStaticData: staticOf, $getWorkflowStaticData: staticOf,
    ...binaryHelpers,
    console: __tfConsole(logs),
  };
}

function __tfFail(error, itemIndex) {
  const isError = error instanceof Error;
  return {
    name: isError ? error.name : 'Error',
    message: isError ? String(error.message) : __tfShow(error),
    stack: isError && error.stack ? String(error.stack) : '',
    itemIndex,
  };
}

async function __tfRunItems(job, logs) {
  const items = job.items;
  const staticData = job.staticData || { global: {}, node: {} };
  const perItem = job.mode === 'runOnceForEachItem' || job.mode === 'functionItem';
  if (!perItem) return await __tfUser(__tfScope(job, items, null, logs, staticData));
  const results = [];
  for (let index = 0; index < items.length; index++) {
    try {
      const result = await __tfUser(__tfScope(job, items, index, logs, staticData));
      // Function Item returns the item's json; its binary is whatever the helpers left on the item.
      results.push(job.mode === 'functionItem' ? { json: result, binary: items[index].binary } : result);
    } catch (error) {
      throw Object.assign(__tfFail(error, index), { tagged: true });
    }
  }
  return results;
}

function __tfSort(job) {
  const order = job.items.map((_, index) => index);
  order.sort((left, right) => Number(__tfCompare(job.items[left], job.items[right])) || 0);
  return order;
}

// The reply as JSON text, refused once it grows past __tfMaxReply: every value is counted where it appears
// (ten references to one string count ten times), before the text that big is ever built.
function __tfSerialise(reply) {
  let size = 0;
  const count = (key, value) => {
    size += typeof key === 'string' ? key.length + 4 : 1;
    if (typeof value === 'string') size += value.length;
    if (size > __tfMaxReply) throw __tfTooLarge;
    return value;
  };
  return __tfStringify(reply, count);
}

const __tfTooLarge = { tooLarge: true };

async function __tfRun() {
  const job = globalThis.__tfJob;
  delete globalThis.__tfJob;
  const logs = [];
  try {
    try {
      const result = job.mode === 'sort' ? __tfSort(job) : await __tfRunItems(job, logs);
      const reply = { ok: result === undefined ? null : result, logs };
      if (job.staticData) reply.staticData = job.staticData;
      return __tfSerialise(reply);
    } catch (error) {
      if (error === __tfTooLarge) throw error;
      return __tfSerialise({ error: error && error.tagged ? error : __tfFail(error, null), logs });
    }
  } catch (error) {
    if (error === __tfTooLarge) return '{"error": {"kind": "size"}}';
    throw error;
  }
}

// Defined once and for good: a script that closes its wrapper runs after this and cannot replace it.
Object.defineProperty(globalThis, '__tfMain', { value: __tfRun, writable: false, configurable: false });
"""


def user_source(mode: str, code: str) -> str:
    """Wrap the user's code the way n8n does: a sloppy-mode (async) function body, helpers in scope.

    The helpers are bound with ``let``: n8n passes them as sandbox globals, so a script may reassign them
    (``items = [...]`` in a Function node, ``item = {...}`` in a Function Item node)."""
    if mode == "sort":
        return f"globalThis.__tfCompare = function (a, b) {{\n{code}\n}};"
    return (
        f"globalThis.__tfUser = function (__tfScope) {{\n"
        f"let {{ {_HELPERS} }} = __tfScope;\n"
        f"return (async function () {{\n{code}\n}}).call(undefined);\n}};"
    )


_HELPERS = ", ".join(
    (
        "$input, items, item, $item, $json, $binary, $itemIndex, $runIndex, $vars, $workflow, $execution",
        "$node, $, console, getWorkflowStaticData, $getWorkflowStaticData",
        "getBinaryData, setBinaryData, getBinaryDataAsync, setBinaryDataAsync",
    )
)
_BUFFER_SOURCE = (Path(__file__).with_name("vendor") / "buffer.js").read_text()
"""Node's ``Buffer`` (the npm package ``buffer``, read once by the fork server), which V8 alone lacks; loaded
into the isolates of scripts that name it."""


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the job and return the reply: ``ok`` with the result, or ``error`` with its kind."""
    timeout = float(job["timeout"])
    max_memory = int(job["maxMemoryMb"]) * 2**20
    racer = MiniRacer()
    try:
        if "Buffer" in job["code"]:
            racer.eval(_BUFFER_SOURCE)
        racer.eval(f"const __tfMaxReply = {int(job['maxReplyBytes'])};")
        racer.eval(PRELUDE)
        racer.eval(user_source(job["mode"], job["code"]))
        racer.eval("globalThis.__tfJob = " + json.dumps(job["data"]))
        promise = racer.eval("__tfMain()", timeout_sec=timeout, max_memory=max_memory)
        return checked_reply(promise.get(timeout=timeout), job)  # type: ignore[union-attr]
    except JSTimeoutException:
        return {"error": {"kind": "timeout"}}
    except TimeoutError:
        return {"error": {"kind": "timeout"}}
    except JSOOMException:
        return {"error": {"kind": "memory"}}
    except JSEvalException as exc:
        return {"error": {"name": "SyntaxError", "message": str(exc).strip(), "itemIndex": None}}


def checked_reply(text: object, job: dict[str, Any]) -> dict[str, Any]:
    """The reply as this runner vouches for it, whatever the script did to the isolate's built-ins: JSON
    no longer than the job allows, an ``ok`` or ``error``, at most 100 log lines, static data only when it
    was sent."""
    if not isinstance(text, str) or len(text) > int(job["maxReplyBytes"]):
        return {"error": {"kind": "size"}}
    try:
        reply = json.loads(text)
    except (ValueError, RecursionError):
        reply = None
    if not isinstance(reply, dict):
        return {
            "error": {"name": "Error", "message": "The script's result could not be read", "itemIndex": None}
        }
    logs = reply.get("logs")
    checked: dict[str, Any] = {"logs": logs[:_MAX_LOG_LINES] if isinstance(logs, list) else []}
    if isinstance(reply.get("error"), dict):
        checked["error"] = reply["error"]
    else:
        checked["ok"] = reply.get("ok")
    if job["data"].get("staticData") is not None and "staticData" in reply:
        checked["staticData"] = reply["staticData"]
    return checked


_MAX_LOG_LINES = 100


def _limit_cpu(timeout: float) -> None:
    """A CPU-time ceiling as a last line of defence should V8's own watchdog fail to stop a script."""
    seconds = math.ceil(timeout) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))


def child(job: dict[str, Any]) -> dict[str, Any]:
    """One job in its forked process (see :mod:`forkserver`): V8 starts here and runs the job."""
    _limit_cpu(float(job["timeout"]))
    init_mini_racer(flags=("--single-threaded", f"--max-old-space-size={int(job['maxMemoryMb'])}"))
    return run_job(job)
