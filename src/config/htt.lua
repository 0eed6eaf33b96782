-- The subset of the ancestor's `htt` prelude that config files call: validators (`htt.is`)
-- and a readable dump for error messages (`htt.str.stringify`). Loaded before the user's
-- file so files written for the ancestor run unchanged.
--
-- A validator is a function `v(value)` returning `true, nil` or `false, err`; `err` is a
-- string, or for the container combinators a table keyed like the input.

htt = htt or {}
htt.is = {}
htt.str = {}

local is = htt.is

local function type_check(expected, lua_type)
  return function(value)
    if type(value) ~= lua_type then
      return false, "expected " .. expected .. ", got " .. type(value)
    end
    return true, nil
  end
end

is.null = type_check("nil", "nil")
is.boolean = type_check("boolean", "boolean")
is.number = type_check("number", "number")
is.string = type_check("string", "string")
is.table = type_check("table", "table")
is.fn = type_check("function", "function")

-- Callable: a function, or anything whose metatable has __call.
function is.callable(value)
  if type(value) == "function" then
    return true, nil
  end
  local mt = getmetatable(value)
  if type(mt) == "table" and mt.__call ~= nil then
    return true, nil
  end
  return false, "expected something callable, got " .. type(value)
end

function is.optional(validator)
  return function(value)
    if value == nil then
      return true, nil
    end
    return validator(value)
  end
end

-- `fn(value)` returns nil when the value is fine; anything else is the error. A bare `true`
-- (or `false`) carries no message, so the label stands in for it.
function is.pred(fn, label)
  return function(value)
    local err = fn(value)
    if err == nil then
      return true, nil
    end
    if type(err) == "boolean" then
      err = "failed predicate '" .. tostring(label) .. "'"
    end
    return false, err
  end
end

-- Passes if any validator passes; otherwise every validator's error, in order.
function is.any(...)
  local validators = { ... }
  return function(value)
    local errs = {}
    for _, validator in ipairs(validators) do
      local ok, err = validator(value)
      if ok then
        return true, nil
      end
      errs[#errs + 1] = err or "<no details>"
    end
    return false, errs
  end
end

-- Passes if every validator passes; otherwise the errors of those that failed.
function is.all(...)
  local validators = { ... }
  return function(value)
    local errs = {}
    for _, validator in ipairs(validators) do
      local ok, err = validator(value)
      if not ok then
        errs[#errs + 1] = err or "<no details>"
      end
    end
    if #errs > 0 then
      return false, errs
    end
    return true, nil
  end
end

-- Every element of a list; errors keyed by index.
function is.list_of(validator)
  return function(value)
    if type(value) ~= "table" then
      return false, "expected a list, got " .. type(value)
    end
    local errs = {}
    for i, element in ipairs(value) do
      local ok, err = validator(element)
      if not ok then
        errs[i] = err or "<no details>"
      end
    end
    if next(errs) ~= nil then
      return false, errs
    end
    return true, nil
  end
end

-- The keys named in `spec` (other keys are not checked); errors keyed like the input.
function is.table_with(spec)
  return function(value)
    if type(value) ~= "table" then
      return false, "expected a table, got " .. type(value)
    end
    local errs = {}
    for key, validator in pairs(spec) do
      local ok, err = validator(value[key])
      if not ok then
        errs[key] = err or "<no details>"
      end
    end
    if next(errs) ~= nil then
      return false, errs
    end
    return true, nil
  end
end

-- Every key and value; errors keyed like the input, each `{ key = err, value = err }`.
function is.table_of(key_validator, value_validator)
  return function(value)
    if type(value) ~= "table" then
      return false, "expected a table, got " .. type(value)
    end
    local errs = {}
    for k, v in pairs(value) do
      local pair_errs = {}
      local ok, err = key_validator(k)
      if not ok then
        pair_errs.key = err or "<no details>"
      end
      ok, err = value_validator(v)
      if not ok then
        pair_errs.value = err or "<no details>"
      end
      if next(pair_errs) ~= nil then
        errs[k] = pair_errs
      end
    end
    if next(errs) ~= nil then
      return false, errs
    end
    return true, nil
  end
end

-- Keys sorted so the same error always prints the same way: numbers first (ascending), then
-- strings, then anything else by its text.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  local rank = { number = 1, string = 2 }
  table.sort(keys, function(a, b)
    local ra, rb = rank[type(a)] or 3, rank[type(b)] or 3
    if ra ~= rb then
      return ra < rb
    end
    if ra == 3 then
      return tostring(a) < tostring(b)
    end
    return a < b
  end)
  return keys
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- A readable Lua-literal dump of `value`, `indent` (default "") prefixing nested lines.
-- `seen` (internal) guards against cycles, which would otherwise recurse forever.
function htt.str.stringify(value, indent, seen)
  indent = indent or ""
  if type(value) == "string" then
    return string.format("%q", value)
  end
  if type(value) ~= "table" then
    return tostring(value)
  end
  seen = seen or {}
  if seen[value] then
    return "<cycle>"
  end
  seen[value] = true
  local keys = sorted_keys(value)
  if #keys == 0 then
    return "{}"
  end
  local inner = indent .. "  "
  local parts = { "{" }
  for i, k in ipairs(keys) do
    local key
    if is_identifier(k) then
      key = k
    else
      key = "[" .. htt.str.stringify(k, inner, seen) .. "]"
    end
    local sep = i < #keys and "," or ""
    local text = htt.str.stringify(value[k], inner, seen)
    parts[#parts + 1] = "\n" .. inner .. key .. " = " .. text .. sep
  end
  parts[#parts + 1] = "\n" .. indent .. "}"
  seen[value] = nil
  return table.concat(parts)
end
