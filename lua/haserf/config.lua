-- SPDX-License-Identifier: MIT
-- haserf.config: every HASERF_* knob read and checked when HAProxy loads the glue, so that
-- `haproxy -c` fails with a message naming the knob (docs/haproxy.md "Knobs" documents each
-- one with its default, unit and an example). Pure: the environment, the C module and file
-- access come in as arguments, so this runs under plain lua5.3/lua5.4 in the tests.
local M = {}

-- name -> {default, what}: `what` is the short description used in warnings.
-- HASERF_* names the project's scripts read (labs, tests, images), not the glue: never
-- "unknown knobs" when they reach HAProxy's environment.
M.NOT_KNOBS = {HASERF_HAPROXY_ROOT = true, HASERF_SERF_ROOT = true, HASERF_CACHE = true,
               HASERF_DEBIAN_MIRROR = true, HASERF_DEPS = true}

M.KNOBS = {
  HASERF_BIND = {nil, "gossip address IP:PORT (required)"},
  HASERF_ADVERTISE = {nil, "address announced to peers"},
  HASERF_JOIN = {nil, "members to join"},
  HASERF_NODE = {nil, "node name"},
  HASERF_TAGS = {nil, "our tags"},
  HASERF_ENCRYPT = {nil, "gossip key"},
  HASERF_ENCRYPT_FILE = {nil, "file holding the gossip key"},
  HASERF_KEYRING_FILE = {nil, "serf keyring file (JSON array of base64 keys), kept up to date"},
  HASERF_SNAPSHOT_FILE = {nil, "serf snapshot file (members and clocks, rejoined after a crash)"},
  HASERF_PROFILE = {"lan", "memberlist timings"},
  HASERF_SELECT = {"role=backend", "members that go into slots"},
  HASERF_PORT_TAG = {"port", "tag holding the service port"},
  HASERF_WEIGHT_TAG = {"weight", "tag holding the weight"},
  HASERF_DEFAULT_PORT = {"80", "port when the tag is absent"},
  HASERF_BACKENDS = {"nodes", "backends driven"},
  HASERF_TEMPLATE = {nil, "config template"},
  HASERF_OUT = {nil, "config written by renders"},
  HASERF_VARS = {nil, "render variables"},
  HASERF_RELOAD = {"none", "reload mode"},
  HASERF_CHECK = {"haproxy -c -f {}", "check command"},
  HASERF_SLOT_STEP = {"4", "slot rounding"},
  HASERF_DEBOUNCE_MS = {"500", "quiet time before a render"},
  HASERF_RELOAD_INTERVAL_MS = {"5000", "time between renders"},
  HASERF_TICK_MS = {"10", "task period"},
  HASERF_TEMPLATE_POLL_MS = {"1000", "template re-read period"},
  HASERF_START_RETRY_MS = {"1000", "start retry period"},
  HASERF_PEERS_FILE = {nil, "file of known peers"},
  HASERF_HANDOVER = {"sibling", "who may take the member over"},
  HASERF_HANDOVER_WAIT_MS = {"10000", "stopping member's wait for a successor"},
  HASERF_JOIN_RETRY_MS = {"10000", "join again this often while nobody answered (0: once)"},
  HASERF_DRAIN_MS = {"5000", "grace of a leaving member's sessions"},
  HASERF_READY_GRACE_MS = {"10000", "how long restored slots wait for the cluster view"},
  HASERF_LOG_LEVEL = {"info", "least severe glue message logged"},
  HASERF_ALLOW = {nil, "sources (CIDRs) that may reach the gossip port"},
  HASERF_PANIC_THRESHOLD = {"50", "isolation guard: % of alive members below which failed ones keep their slots"},
}

-- The glue's message levels, least severe first (HAProxy's log severities: debug, info,
-- notice, warning, err).
M.LOG_LEVELS = {debug = 1, info = 2, notice = 3, warn = 4, err = 5}

local function fail(knob, fmt, ...)
  error(string.format("haserf: %s: " .. fmt, knob, ...), 0)
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end
M.trim = trim

-- Comma-separated list; empty items are ignored (",${X}" is fine when X may be empty).
function M.split_list(s)
  local out = {}
  if not s then return out end
  for item in string.gmatch(s, "[^,]+") do
    item = trim(item)
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

-- "k=v,k=v" -> table.
function M.split_kv(s, knob)
  local out = {}
  for _, item in ipairs(M.split_list(s)) do
    local k, v = item:match("^([^=]+)=(.*)$")
    if not k or trim(k) == "" then fail(knob, "'%s' is not key=value", item) end
    out[trim(k)] = trim(v)
  end
  return out
end

local function integer(knob, text, lo, hi, unit)
  local n = math.tointeger(tonumber(text))
  if not n or not text:match("^%s*%d+%s*$") then
    fail(knob, "must be an integer%s, got '%s'", unit and (" number of " .. unit) or "", text)
  end
  if n < lo or n > hi then fail(knob, "must be between %d and %d, got %d", lo, hi, n) end
  return n
end

-- One word of HAProxy's configuration as HAProxy reads it: quotes removed, and inside double
-- quotes environment variables ("${NAME}", "$NAME") expanded with env(name).
function M.haproxy_word(word, env)
  local q, inner = word:match("^([\"'])(.*)%1$")
  if q == "'" then return inner end
  if q ~= '"' then return word end
  return (inner:gsub("%$({?)([%a_][%w_]*)(}?)", function(open, name, close)
    if open == "{" and close == "" then return nil end  -- "${NAME" is no variable: kept
    return (env(name) or "") .. (open == "" and close or "")
  end))
end

-- The backends (`backend NAME` / `listen NAME`) and the chroot declared in HAProxy's files.
function M.scan_config(files, read_file)
  local backends, chroot, read_any = {}, nil, false
  for _, path in ipairs(files) do
    local text = read_file(path)
    if text then
      read_any = true
      for line in text:gmatch("[^\n]*") do
        local kw, name = line:match("^%s*(%a+)%s+([^%s#]+)")
        if kw == "backend" or kw == "listen" then backends[name] = true end
        if kw == "chroot" then chroot = name end
      end
    end
  end
  return read_any and backends or nil, chroot
end

-- The nearest known knob to a misspelt one (for the warning), by edit distance.
local function nearest(name)
  local best, best_d
  for known in pairs(M.KNOBS) do
    local a, b = name, known
    local prev = {}
    for j = 0, #b do prev[j] = j end
    for i = 1, #a do
      local cur = {[0] = i}
      for j = 1, #b do
        local cost = a:byte(i) == b:byte(j) and 0 or 1
        cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      end
      prev = cur
    end
    if not best_d or prev[#b] < best_d then best, best_d = known, prev[#b] end
  end
  if best_d and best_d <= 3 then return best end
end

-- The reload command for a HASERF_RELOAD mode.
local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
function M.reload_command(mode)
  if mode == "none" then return nil end
  if mode == "signal" then
    -- The command runs in a shell spawned by the worker: $PPID is the worker, its parent the
    -- master. SIGUSR2 to the master = reload.
    return "kill -USR2 \"$(cut -d' ' -f4 /proc/$PPID/stat)\""
  end
  if mode:sub(1, 7) == "signal:" then return "kill -USR2 \"$(cat " .. shell_quote(mode:sub(8)) .. ")\"" end
  if mode:sub(1, 11) == "master-cli:" then
    -- HAProxy 2.7+ answers "Success=1" or "Success=0" and the new worker's startup messages
    -- once the reload is done (up to socat's 30 s); 2.6 closes the socket and answers nothing.
    -- "Success=0" is a failed reload: the command fails, with HAProxy's messages.
    return "out=$(echo reload | socat -t 30 - " .. shell_quote("unix-connect:" .. mode:sub(12)) ..
           ") || exit 1; printf '%s\\n' \"$out\"; case \"$out\" in Success=0*) exit 1 ;; esac"
  end
  if mode:sub(1, 4) == "cmd:" and #mode > 4 then return mode:sub(5) end
  fail("HASERF_RELOAD", "must be none, signal, signal:PIDFILE, master-cli:PATH or cmd:COMMAND, got '%s'", mode)
end

-- Reads every knob. `env(name)` gives a value or nil; `haserf` is the C module
-- (check_options, env_names, config_files); `opts.read_file(path)` returns a file's text or
-- nil; `opts.lua_thread` is core.thread. Raises "haserf: KNOB: why" on the first bad knob.
-- Returns cfg and a list of warnings.
function M.load(env, haserf, opts)
  opts = opts or {}
  local warnings = {}
  local function get(name)
    local v = env(name)
    if v == nil or v == "" then
      local d = M.KNOBS[name] and M.KNOBS[name][1]
      return d
    end
    return v
  end
  if opts.lua_thread and opts.lua_thread ~= 0 then
    error("haserf: haserf-haproxy.lua must be loaded with lua-load, not lua-load-per-thread " ..
          "(one gossip member per process; balancing policies may use lua-load-per-thread)", 0)
  end

  local cfg = {}
  cfg.bind = get("HASERF_BIND")
  if not cfg.bind then
    fail("HASERF_BIND", "required: add `setenv HASERF_BIND IP:PORT` to the global section, " ..
         "before `lua-load`")
  end
  cfg.advertise = get("HASERF_ADVERTISE")
  cfg.allow = M.split_list(get("HASERF_ALLOW"))
  cfg.join = M.split_list(get("HASERF_JOIN"))
  cfg.node = get("HASERF_NODE")
  cfg.tags = M.split_kv(get("HASERF_TAGS"), "HASERF_TAGS")
  cfg.encrypt = get("HASERF_ENCRYPT")
  local key_file = get("HASERF_ENCRYPT_FILE")
  if key_file then
    if cfg.encrypt then fail("HASERF_ENCRYPT_FILE", "give HASERF_ENCRYPT or HASERF_ENCRYPT_FILE, not both") end
    local text = opts.read_file and opts.read_file(key_file)
    if not text then fail("HASERF_ENCRYPT_FILE", "cannot read %s", key_file) end
    cfg.encrypt = trim(text)
  end
  cfg.keyring_file = get("HASERF_KEYRING_FILE")
  cfg.snapshot_file = get("HASERF_SNAPSHOT_FILE")
  cfg.profile = get("HASERF_PROFILE")
  cfg.handover = get("HASERF_HANDOVER")
  cfg.port_tag = get("HASERF_PORT_TAG")
  cfg.weight_tag = get("HASERF_WEIGHT_TAG")
  local default_port = get("HASERF_DEFAULT_PORT")
  if default_port == "none" then
    cfg.default_port = nil  -- a member without the port tag is rejected
  else
    cfg.default_port = integer("HASERF_DEFAULT_PORT", default_port, 1, 65535)
  end
  cfg.handover_wait_ms = integer("HASERF_HANDOVER_WAIT_MS", get("HASERF_HANDOVER_WAIT_MS"), 0, 600000, "ms")
  cfg.join_retry_ms = integer("HASERF_JOIN_RETRY_MS", get("HASERF_JOIN_RETRY_MS"), 0, 3600000, "ms")

  cfg.log_level = get("HASERF_LOG_LEVEL")
  if not M.LOG_LEVELS[cfg.log_level] then
    fail("HASERF_LOG_LEVEL", "'%s' is not one of debug, info, notice, warn, err", cfg.log_level)
  end

  -- Everything the member itself would refuse, refused now, in its own words.
  local start_opts = M.start_options(cfg)
  local ok, why = haserf.check_options(start_opts)
  if not ok then
    local knob = "HASERF_BIND"
    if why:find("^advertise") then knob = "HASERF_ADVERTISE"
    elseif why:find("^encryption key") then knob = key_file and "HASERF_ENCRYPT_FILE" or "HASERF_ENCRYPT"
    elseif why:find("^keyring file") then knob = "HASERF_KEYRING_FILE"
    elseif why:find("^join address") then knob = "HASERF_JOIN"
    elseif why:find("^unknown profile") then knob = "HASERF_PROFILE"
    elseif why:find("^handover") then knob = "HASERF_HANDOVER"
    elseif why:find("^allow") then knob = "HASERF_ALLOW"
    elseif why:find("^tags") then knob = "HASERF_TAGS" end
    fail(knob, "%s", why)
  end

  cfg.select = M.split_kv(get("HASERF_SELECT"), "HASERF_SELECT")
  cfg.backends = M.split_list(get("HASERF_BACKENDS"))
  if #cfg.backends == 0 then fail("HASERF_BACKENDS", "is empty") end
  cfg.select_of, cfg.select_knobs = {}, {}
  for _, b in ipairs(cfg.backends) do
    local knob = "HASERF_SELECT_" .. b:upper():gsub("[^%w]", "_")
    cfg.select_knobs[knob] = true
    local s = get(knob)
    cfg.select_of[b] = s and M.split_kv(s, knob) or cfg.select
  end
  if opts.config_files then
    local declared, chroot = M.scan_config(opts.config_files, opts.read_file)
    cfg.chroot = chroot and M.haproxy_word(chroot, env)
    if declared then
      for _, b in ipairs(cfg.backends) do
        if not declared[b] then
          fail("HASERF_BACKENDS", "backend '%s' is not declared in %s", b, table.concat(opts.config_files, ", "))
        end
      end
    end
  end

  cfg.template = get("HASERF_TEMPLATE")
  cfg.out = get("HASERF_OUT")
  if (cfg.template == nil) ~= (cfg.out == nil) then
    fail(cfg.template and "HASERF_OUT" or "HASERF_TEMPLATE",
         "renders need both HASERF_TEMPLATE and HASERF_OUT")
  end
  if cfg.template and opts.read_file and not opts.read_file(cfg.template) then
    fail("HASERF_TEMPLATE", "cannot read %s", cfg.template)
  end
  cfg.vars = M.split_kv(get("HASERF_VARS"), "HASERF_VARS")
  cfg.reload_mode = get("HASERF_RELOAD")
  cfg.reload_cmd = M.reload_command(cfg.reload_mode)
  cfg.check = get("HASERF_CHECK")
  cfg.reload_enabled = cfg.template ~= nil
  cfg.slot_step = integer("HASERF_SLOT_STEP", get("HASERF_SLOT_STEP"), 1, 1000)
  cfg.debounce_ms = integer("HASERF_DEBOUNCE_MS", get("HASERF_DEBOUNCE_MS"), 0, 3600000, "ms")
  cfg.min_interval_ms = integer("HASERF_RELOAD_INTERVAL_MS", get("HASERF_RELOAD_INTERVAL_MS"), 0, 86400000, "ms")
  cfg.tick_ms = integer("HASERF_TICK_MS", get("HASERF_TICK_MS"), 1, 10000, "ms")
  cfg.template_poll_ms = integer("HASERF_TEMPLATE_POLL_MS", get("HASERF_TEMPLATE_POLL_MS"), 100, 3600000, "ms")
  cfg.start_retry_ms = integer("HASERF_START_RETRY_MS", get("HASERF_START_RETRY_MS"), 100, 600000, "ms")
  cfg.drain_ms = integer("HASERF_DRAIN_MS", get("HASERF_DRAIN_MS"), 0, 3600000, "ms")
  cfg.panic_threshold = integer("HASERF_PANIC_THRESHOLD", get("HASERF_PANIC_THRESHOLD"), 0, 100, "percent")
  cfg.ready_grace_ms = integer("HASERF_READY_GRACE_MS", get("HASERF_READY_GRACE_MS"), 0, 3600000, "ms")
  cfg.peers_file = get("HASERF_PEERS_FILE")

  -- A misspelt knob silently keeps its default: say so.
  for _, name in ipairs(haserf.env_names("HASERF_")) do
    if not M.KNOBS[name] and not cfg.select_knobs[name] and not M.NOT_KNOBS[name] then
      local guess = nearest(name)
      warnings[#warnings + 1] = string.format("unknown knob %s ignored%s", name,
                                              guess and (" (did you mean " .. guess .. "?)") or "")
    end
  end
  return cfg, warnings
end

-- The options haserf.start / check_options take.
function M.start_options(cfg, join)
  return {bind = cfg.bind, advertise = cfg.advertise, join = join or cfg.join, node = cfg.node,
          tags = cfg.tags, encrypt = cfg.encrypt, keyring_file = cfg.keyring_file,
          snapshot_file = cfg.snapshot_file, profile = cfg.profile, handover = cfg.handover,
          handover_wait_ms = cfg.handover_wait_ms, join_retry_ms = cfg.join_retry_ms,
          port_tag = cfg.port_tag, allow = cfg.allow,
          weight_tag = cfg.weight_tag, require_port = cfg.default_port == nil}
end

return M
