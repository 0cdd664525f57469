-- SPDX-License-Identifier: MIT
-- haserf.config: every knob checked when the file loads, errors naming the knob; the member's
-- own checks come from the real C module (haserf.check_options).
local T = require "testlib"
local config = require "haserf.config"
local real = require "haserf"

local function module(names)
  return {check_options = real.check_options, env_names = function() return names or {} end}
end

local function load(env, opts, names)
  return config.load(function(k) return env[k] end, module(names), opts)
end

local function fails(name, env, part, opts)
  T.raises(name, function() load(env, opts) end, part)
end

local base = {HASERF_BIND = "127.0.0.1:7946"}
local function with(extra)
  local e = {}
  for k, v in pairs(base) do e[k] = v end
  for k, v in pairs(extra) do e[k] = v end
  return e
end

local cfg, warnings = load(base)
T.eq("defaults: lan profile", cfg.profile, "lan")
T.eq("defaults: handover between sibling workers", cfg.handover, "sibling")
T.eq("defaults: backend nodes", cfg.backends[1], "nodes")
T.eq("defaults: select role=backend", cfg.select.role, "backend")
T.eq("defaults: port 80 when the tag is absent", cfg.default_port, 80)
T.eq("defaults: drain grace 5 s", cfg.drain_ms, 5000)
T.eq("defaults: no warning", #warnings, 0)
T.eq("defaults: log level info", cfg.log_level, "info")
T.eq("HASERF_LOG_LEVEL=warn", load(with({HASERF_LOG_LEVEL = "warn"})).log_level, "warn")
T.eq("HASERF_ALLOW: a CIDR list for the member", table.concat(load(with({HASERF_ALLOW = "10.0.0.0/8, fd00::/8"})).allow, " "),
     "10.0.0.0/8 fd00::/8")
T.eq("HASERF_ALLOW reaches the start options", config.start_options(load(with({HASERF_ALLOW = "10.0.0.0/8"}))).allow[1], "10.0.0.0/8")
fails("a bad CIDR in HASERF_ALLOW is named (the module's own check)", with({HASERF_ALLOW = "10.0.0.0/8,nowhere"}),
      "haserf: HASERF_ALLOW: allow: 'nowhere' is not a CIDR")
fails("a bad HASERF_LOG_LEVEL is named", with({HASERF_LOG_LEVEL = "loud"}),
      "haserf: HASERF_LOG_LEVEL: 'loud' is not one of debug, info, notice, warn, err")

fails("HASERF_BIND is required", {}, "haserf: HASERF_BIND: required")
fails("a bad bind address names HASERF_BIND", with({HASERF_BIND = "not-an-address"}), "haserf: HASERF_BIND:")
fails("a wildcard bind without advertise is refused", with({HASERF_BIND = "0.0.0.0:7946"}), "HASERF_BIND: bind address 0.0.0.0:7946 is a wildcard")
fails("a bad advertise names HASERF_ADVERTISE", with({HASERF_ADVERTISE = "x:y"}), "haserf: HASERF_ADVERTISE:")
fails("a bad key names HASERF_ENCRYPT", with({HASERF_ENCRYPT = "short"}), "haserf: HASERF_ENCRYPT: encryption key")
fails("a bad profile names HASERF_PROFILE", with({HASERF_PROFILE = "fast"}), "haserf: HASERF_PROFILE: unknown profile 'fast'")
fails("a bad handover policy", with({HASERF_HANDOVER = "always"}), "haserf: HASERF_HANDOVER:")
fails("a bad join address names HASERF_JOIN", with({HASERF_JOIN = "10.0.0.1:7946,bad:port:x"}), "haserf: HASERF_JOIN: join address")
fails("a tag without = names HASERF_TAGS", with({HASERF_TAGS = "role"}), "haserf: HASERF_TAGS: 'role' is not key=value")
fails("a huge tag set names HASERF_TAGS", with({HASERF_TAGS = "a=" .. string.rep("x", 600)}), "haserf: HASERF_TAGS: tags encode")
fails("a non-integer names the knob", with({HASERF_DRAIN_MS = "1.5"}), "haserf: HASERF_DRAIN_MS: must be an integer number of ms")
fails("an out-of-range number", with({HASERF_SLOT_STEP = "0"}), "haserf: HASERF_SLOT_STEP: must be between 1 and 1000")
fails("a bad default port", with({HASERF_DEFAULT_PORT = "70000"}), "HASERF_DEFAULT_PORT: must be between 1 and 65535")
fails("a bad reload mode", with({HASERF_RELOAD = "restart"}), "haserf: HASERF_RELOAD: must be none, signal")
fails("a template without an output", with({HASERF_TEMPLATE = "/t"}), "haserf: HASERF_OUT: renders need both")
fails("an unreadable template", with({HASERF_TEMPLATE = "/nonexistent/t", HASERF_OUT = "/tmp/o"}),
      "haserf: HASERF_TEMPLATE: cannot read /nonexistent/t", {read_file = function() return nil end})
fails("both key knobs", with({HASERF_ENCRYPT = "x", HASERF_ENCRYPT_FILE = "/k"}), "not both",
      {read_file = function() return "k" end})
T.raises("lua-load-per-thread is refused with a clear message",
         function() load(base, {lua_thread = 2}) end, "must be loaded with lua-load, not lua-load-per-thread")

cfg = load(with({HASERF_DEFAULT_PORT = "none", HASERF_PORT_TAG = "http_port"}))
T.eq("DEFAULT_PORT none: no default", cfg.default_port, nil)
T.eq("DEFAULT_PORT none: the member must carry the port tag", config.start_options(cfg).require_port, true)
T.eq("the port tag goes to the member's policy", config.start_options(cfg).port_tag, "http_port")

cfg = load(with({HASERF_ENCRYPT_FILE = "/k"}), {read_file = function() return "cg8StVXbQJ0gPvMd9o7yrg==\n" end})
T.eq("the key file's content is the key", cfg.encrypt, "cg8StVXbQJ0gPvMd9o7yrg==")
cfg = load(with({HASERF_ENCRYPT = "cg8StVXbQJ0gPvMd9o7yrg==", HASERF_KEYRING_FILE = "/var/lib/haproxy/ring"}))
T.eq("the keyring file goes to the member", config.start_options(cfg).keyring_file, "/var/lib/haproxy/ring")
cfg = load(with({HASERF_SNAPSHOT_FILE = "/var/lib/haproxy/serf.snapshot"}))
T.eq("the snapshot file goes to the member", config.start_options(cfg).snapshot_file, "/var/lib/haproxy/serf.snapshot")
T.eq("joins are retried every 10 s by default", config.start_options(cfg).join_retry_ms, 10000)
cfg = load(with({HASERF_JOIN_RETRY_MS = "0"}))
T.eq("HASERF_JOIN_RETRY_MS=0: join once", config.start_options(cfg).join_retry_ms, 0)

-- Backends are checked against HAProxy's own configuration files.
local files = {["/etc/haproxy/a.cfg"] = "global\n  chroot /var/lib/haproxy\nbackend web\n  server x 1.2.3.4:80\n",
               ["/etc/haproxy/b.cfg"] = "listen api # comment\n  bind :1\n"}
local function read(p) return files[p] end
cfg = load(with({HASERF_BACKENDS = "web,api"}), {read_file = read, config_files = {"/etc/haproxy/a.cfg", "/etc/haproxy/b.cfg"}})
T.eq("declared backends pass", #cfg.backends, 2)
T.eq("the chroot is noticed", cfg.chroot, "/var/lib/haproxy")
files["/etc/haproxy/a.cfg"] = 'global\n  chroot "${CHROOT_DIR}/jail"\nbackend web\n'
cfg = load(with({CHROOT_DIR = "/srv", HASERF_BACKENDS = "web"}), {read_file = read, config_files = {"/etc/haproxy/a.cfg"}})
T.eq("a chroot in double quotes: environment variables expanded, as HAProxy does", cfg.chroot, "/srv/jail")
T.eq("single quotes: taken literally", config.haproxy_word("'${X}'", function() return "no" end), "${X}")
T.eq("$NAME without braces", config.haproxy_word('"$X/y"', function() return "/x" end), "/x/y")
fails("an undeclared backend names HASERF_BACKENDS", with({HASERF_BACKENDS = "web,nodes"}),
      "haserf: HASERF_BACKENDS: backend 'nodes' is not declared in /etc/haproxy/a.cfg",
      {read_file = read, config_files = {"/etc/haproxy/a.cfg"}})
cfg = load(with({HASERF_BACKENDS = "web", HASERF_SELECT_WEB = "role=web"}))
T.eq("per-backend selection", cfg.select_of.web.role, "web")

-- Misspelt knobs are warned about, with a suggestion.
cfg, warnings = load(base, nil, {"HASERF_BIND", "HASERF_BACKEND", "HASERF_SELECT_NODES", "HASERF_ZZZZZZZZZZ"})
T.eq("two unknown knobs", #warnings, 2)
T.contains("a suggestion for a typo", warnings[1], "unknown knob HASERF_BACKEND ignored (did you mean HASERF_BACKENDS?)")
T.contains("no suggestion for nonsense", warnings[2], "unknown knob HASERF_ZZZZZZZZZZ ignored")

-- Reload modes become commands.
T.eq("reload none", config.reload_command("none"), nil)
T.contains("reload master-cli", config.reload_command("master-cli:/run/m.sock"), "unix-connect:/run/m.sock")
T.contains("reload signal:PIDFILE", config.reload_command("signal:/run/h.pid"), "kill -USR2")
T.eq("reload cmd:", config.reload_command("cmd:systemctl reload haproxy"), "systemctl reload haproxy")

T.finish()
