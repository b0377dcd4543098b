-- sf2rl bridge: runs inside BizHawk's EmuHawk (Lua 5.4) and lets an sf2rl emulator worker drive it.
--
-- EmuHawk is started with --socket_ip/--socket_port and connects to the worker, which listens first.
-- Messages both ways use BizHawk's framing, "<byte length> <payload>"; comm.socketServerResponse()
-- returns one payload and comm.socketServerSend(s) frames one. The payload format is documented in
-- emulator_worker/bizhawk/__init__.py and docs/backends.md: space-separated, percent-encoded tokens;
-- requests "<command> <args...>", replies "ok <values...>" or "err <message>"; binary data in hex.
--
-- The worker drives every frame: the loop below blocks until a command arrives, so the game never
-- runs between commands and an episode replays exactly.

local BRIDGE_VERSION = 1

-- Command names. Keys and values must equal emulator_worker.protocol.Command's (a test checks this).
local COMMAND = {
  HELLO = "hello",
  RESET = "reset",
  STEP = "step",
  FRAME = "frame",
  SAVE_STATE = "save_state",
  LOAD_STATE = "load_state",
}

-- Commands with no protocol equivalent: read the watched RAM ranges; close EmuHawk.
local BRIDGE_COMMAND = {
  RAM = "ram",
  QUIT = "quit",
}

local MAX_FRAMES = 36000  -- protocol.MAX_FRAMES_PER_STEP

local cfg = nil           -- set by hello: domain, ranges, buttons, boot mode, temp folder
local boot_state = nil    -- memorysavestate id or savestate path of the power-on state
local running = true

-- ------------------------------------------------------------------ encoding

local function unquote(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function quote(s)
  return (tostring(s):gsub("[^%w%-%._~/:,%*]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function split(s)
  local out = {}
  for token in s:gmatch("[^ ]+") do
    out[#out + 1] = unquote(token)
  end
  return out
end

local CHUNK = 2048
local HEX_FORMAT = string.rep("%02x", CHUNK)

-- Hex of the first n numbers of a 1-indexed array (what memory.read_bytes_as_array returns).
local function hex_of_array(t, n)
  local parts = {}
  for i = 1, n, CHUNK do
    local j = math.min(i + CHUNK - 1, n)
    local fmt = (j - i + 1 == CHUNK) and HEX_FORMAT or string.rep("%02x", j - i + 1)
    parts[#parts + 1] = string.format(fmt, table.unpack(t, i, j))
  end
  return table.concat(parts)
end

local function hex_of_string(s)
  local parts = {}
  for i = 1, #s, CHUNK do
    local j = math.min(i + CHUNK - 1, #s)
    local fmt = (j - i + 1 == CHUNK) and HEX_FORMAT or string.rep("%02x", j - i + 1)
    parts[#parts + 1] = string.format(fmt, s:byte(i, j))
  end
  return table.concat(parts)
end

local function string_of_hex(h)
  if #h % 2 ~= 0 or h:find("[^%x]") then
    error("data is not hex-encoded", 0)
  end
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

local function int_arg(value, name, lo, hi)
  local n = math.tointeger(tonumber(value or ""))
  if n == nil or n < lo or n > hi then
    error(string.format("%s must be an integer in [%d, %d], got %s", name, lo, hi, tostring(value)), 0)
  end
  return n
end

-- ------------------------------------------------------------------ files

local function temp_path(name)
  local sep = cfg.tmpdir:find("\\", 1, true) and "\\" or "/"
  return cfg.tmpdir .. sep .. name
end

local function read_file(path)
  local f = io.open(path, "rb")
  if f == nil then
    error("cannot read " .. path, 0)
  end
  local data = f:read("a")
  f:close()
  return data
end

local function write_file(path, data)
  local f = io.open(path, "wb")
  if f == nil then
    error("cannot write " .. path, 0)
  end
  f:write(data)
  f:close()
end

-- Load a savestate file, leaving the emulator as it was if that fails. Older BizHawk versions
-- report a failed load only on screen, so the file is checked first and errors are caught.
local function load_state_file(path)
  local f = io.open(path, "rb")
  if f == nil then
    error("savestate file not found: " .. path, 0)
  end
  f:close()
  local backup = memorysavestate.savecorestate()
  local ok, result = pcall(savestate.load, path, true)
  if not ok or result == false then
    memorysavestate.loadcorestate(backup)
    memorysavestate.removestate(backup)
    error("savestate " .. path .. " could not be loaded" .. (ok and "" or (": " .. tostring(result))), 0)
  end
  memorysavestate.removestate(backup)
end

-- ------------------------------------------------------------------ commands

local handlers = {}

handlers[COMMAND.HELLO] = function(args)
  local version = int_arg(args[1], "bridge version", 0, 1 << 30)
  if version ~= BRIDGE_VERSION then
    error(string.format("worker speaks bridge version %d, this bridge.lua speaks %d", version, BRIDGE_VERSION), 0)
  end
  if #args ~= 6 then
    error("hello takes: version domain ranges buttons boot tmpdir", 0)
  end
  local domain, ranges_arg, buttons_arg, boot, tmpdir = args[2], args[3], args[4], args[5], args[6]
  -- getmemorydomainsize falls back to the current domain for an unknown name, so check the list.
  local known = false
  for _, d in pairs(memory.getmemorydomainlist()) do
    known = known or d == domain
  end
  if not known then
    error("memory domain " .. domain .. " does not exist on " .. emu.getsystemid(), 0)
  end
  local size = memory.getmemorydomainsize(domain)
  local ranges = {}
  if ranges_arg == "*" then
    ranges[1] = { 0, size }
  else
    for a, n in ranges_arg:gmatch("([^:,]+):([^:,]+)") do
      local addr = int_arg(a, "range address", 0, size)
      local len = int_arg(n, "range length", 1, size - addr)
      ranges[#ranges + 1] = { addr, len }
    end
    if #ranges == 0 then
      error("ranges must be '*' or addr:len[,addr:len...]", 0)
    end
  end
  local buttons = {}
  for name in buttons_arg:gmatch("[^,]+") do
    buttons[#buttons + 1] = name
  end
  if #buttons == 0 or #buttons > 32 then
    error("buttons must list 1 to 32 names", 0)
  end
  if boot ~= "core" and boot ~= "file" then
    error("boot must be 'core' or 'file', got " .. boot, 0)
  end
  if cfg ~= nil and cfg.boot == "core" and boot_state ~= nil then
    memorysavestate.removestate(boot_state)
  end
  cfg = { domain = domain, ranges = ranges, buttons = buttons, boot = boot, tmpdir = tmpdir }
  -- The power-on state every plain reset returns to.
  if boot == "core" then
    boot_state = memorysavestate.savecorestate()
  else
    boot_state = temp_path("boot.State")
    savestate.save(boot_state, true)
  end
  return table.concat({ BRIDGE_VERSION, quote(emu.getsystemid()), size, emu.framecount() }, " ")
end

handlers[COMMAND.RESET] = function(args)
  if args[1] ~= nil then
    load_state_file(args[1])
  elseif cfg.boot == "core" then
    memorysavestate.loadcorestate(boot_state)
  else
    load_state_file(boot_state)
  end
  return tostring(emu.framecount())
end

handlers[COMMAND.STEP] = function(args)
  local top = (1 << #cfg.buttons) - 1
  local p1 = int_arg(args[1], "p1 mask", 0, top)
  local p2 = int_arg(args[2], "p2 mask", 0, top)
  local frames = int_arg(args[3], "frames", 0, MAX_FRAMES)
  local input = {}
  for i, name in ipairs(cfg.buttons) do
    input["P1 " .. name] = (p1 >> (i - 1)) & 1 == 1
    input["P2 " .. name] = (p2 >> (i - 1)) & 1 == 1
  end
  -- The frames run after the pcall that validated the request: emu.frameadvance() yields this
  -- script's coroutine, and a yield is best kept out of pcall.
  return nil, function()
    for _ = 1, frames do
      -- joypad.set holds buttons for the next frame only, so it is repeated every frame.
      joypad.set(input)
      emu.frameadvance()
    end
    return tostring(emu.framecount())
  end
end

handlers[BRIDGE_COMMAND.RAM] = function(_)
  local parts = {}
  for _, r in ipairs(cfg.ranges) do
    parts[#parts + 1] = hex_of_array(memory.read_bytes_as_array(r[1], r[2], cfg.domain), r[2])
  end
  return table.concat(parts)
end

handlers[COMMAND.FRAME] = function(_)
  local path = temp_path("frame.png")
  client.screenshot(path)
  local png = read_file(path)
  os.remove(path)
  return hex_of_string(png)
end

handlers[COMMAND.SAVE_STATE] = function(_)
  local path = temp_path("save.State")
  savestate.save(path, true)
  local data = read_file(path)
  os.remove(path)
  return hex_of_string(data)
end

handlers[COMMAND.LOAD_STATE] = function(args)
  if #args ~= 1 then
    error("load_state takes one hex argument", 0)
  end
  local path = temp_path("load.State")
  write_file(path, string_of_hex(args[1]))
  local ok, err = pcall(load_state_file, path)
  os.remove(path)
  if not ok then
    error(err, 0)
  end
  return ""
end

handlers[BRIDGE_COMMAND.QUIT] = function(_)
  running = false
  return ""
end

-- A reply for any payload: malformed commands and failing API calls become "err" replies.
-- A handler returns its reply values, or nil and a function to run unprotected (frames).
local function dispatch(payload)
  local args = split(payload)
  local name = table.remove(args, 1)
  local handler = name and handlers[name]
  if handler == nil then
    return "err unknown command " .. string.format("%q", tostring(name))
  end
  if cfg == nil and name ~= COMMAND.HELLO and name ~= BRIDGE_COMMAND.QUIT then
    return "err send hello first"
  end
  local ok, result, run = pcall(handler, args)
  if not ok then
    return "err " .. tostring(result):gsub("[\r\n]+", " ")
  end
  if run ~= nil then
    result = run()
  end
  if result == "" then
    return "ok"
  end
  return "ok " .. result
end

-- ------------------------------------------------------------------ main loop

-- Run unthrottled and silent; a setting an older BizHawk lacks is not fatal.
pcall(client.speedmode, 6399)  -- the largest value BizHawk accepts is below 6400
pcall(emu.limitframerate, false)
pcall(client.SetSoundOn, false)

-- 0 = no receive timeout (.NET semantics): wait for the worker however long it thinks.
comm.socketServerSetTimeout(0)

while running do
  local payload = comm.socketServerResponse()
  if payload == nil or payload == "" then
    -- BizHawk returns "" on timeouts and errors; the worker never sends an empty payload.
    if not comm.socketServerIsConnected() then
      break
    end
  else
    comm.socketServerSend(dispatch(payload))
  end
end

client.exit()
