"""Byte loops in the shapes compilers and people write, shared by the vectorizer and word-at-a-time tests."""

# while (i < n) s += p[i++];   top-tested, signed compare
SUM_WHILE = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $i i32) (local $s i32)
    block
      loop
        local.get $i
        local.get $n
        i32.ge_s
        br_if 1
        local.get $s
        local.get $p
        local.get $i
        i32.add
        i32.load8_u
        i32.add
        local.set $s
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br 0
      end
    end
    local.get $s))
"""

# do { if (*p > m) m = *p; p++; } while (--n);   pointer walk, down counter, if-form signed max.
# MAX_IF_LOOP is its loop, the byte tail that stays after a rewrite.
MAX_IF_LOOP = """      loop
        local.get $p
        i32.load8_u
        local.tee $b
        local.get $m
        i32.gt_s
        if
          local.get $b
          local.set $m
        end
        local.get $p
        i32.const 1
        i32.add
        local.set $p
        local.get $n
        i32.const -1
        i32.add
        local.tee $n
        br_if 0
      end"""
MAX_IF = f"""
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $m i32) (local $b i32)
    block
      local.get $n
      i32.eqz
      br_if 0
{MAX_IF_LOOP}
    end
    local.get $m))
"""

# m = 255; for (i = 0; i < n; i++) m = p[i] < m ? p[i] : m;   unsigned min through select, lt_u bound
MIN_SELECT = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $i i32) (local $m i32) (local $b i32)
    i32.const 255
    local.set $m
    block
      local.get $n
      i32.eqz
      br_if 0
      loop
        local.get $p
        local.get $i
        i32.add
        i32.load8_u offset=3
        local.tee $b
        local.get $m
        local.get $b
        local.get $m
        i32.lt_u
        select
        local.set $m
        local.get $i
        i32.const 1
        i32.add
        local.tee $i
        local.get $n
        i32.lt_u
        br_if 0
      end
    end
    local.get $m))
"""

# count the bytes that are not '\\n' (a constant target), unrolled by two, bound in a local.
# COUNT_NE_HEAD and COUNT_NE_LOOP are the parts a rewrite keeps: the bound's set-up and the loop.
COUNT_NE_HEAD = """    local.get $n
    i32.const -2
    i32.and
    local.tee $end
    i32.eqz
    if
      i32.const 0
      return
    end"""
COUNT_NE_LOOP = """    loop
      local.get $c
      local.get $p
      local.get $i
      i32.add
      i32.load8_u
      i32.const 10
      i32.ne
      i32.add
      local.get $p
      local.get $i
      i32.add
      i32.load8_u offset=1
      i32.const 10
      i32.ne
      i32.add
      local.set $c
      local.get $i
      i32.const 2
      i32.add
      local.tee $i
      local.get $end
      i32.ne
      br_if 0
    end"""
COUNT_NE_UNROLLED = f"""
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $i i32) (local $c i32) (local $end i32)
{COUNT_NE_HEAD}
{COUNT_NE_LOOP}
    local.get $c))
"""

# three loops that are not byte reductions
WITH_STORE = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $i i32) (local $s i32)
    loop
      local.get $s
      local.get $p
      local.get $i
      i32.add
      i32.load8_u
      i32.add
      local.set $s
      local.get $p
      local.get $i
      i32.add
      i32.const 0
      i32.store8
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.ne
      br_if 0
    end
    local.get $s))
"""

ACC_IN_ADDRESS = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $i i32) (local $s i32)
    loop
      local.get $s
      local.get $p
      local.get $s
      i32.add
      i32.load8_u
      i32.add
      local.set $s
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.ne
      br_if 0
    end
    local.get $s))
"""

STRLEN = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $i i32)
    block
      loop
        local.get $p
        local.get $i
        i32.add
        i32.load8_u
        i32.eqz
        br_if 1
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br 0
      end
    end
    local.get $i))
"""

REDUCTIONS = {"sum_while": SUM_WHILE, "max_if": MAX_IF, "min_select": MIN_SELECT,
              "count_ne_unrolled": COUNT_NE_UNROLLED}
NOT_REDUCTIONS = {"with_store": WITH_STORE, "acc_in_address": ACC_IN_ADDRESS, "strlen": STRLEN}

# clang -O2 of `for (i = 0; i < n; i++) if (a[i] != b[i]) return a[i] - b[i]; return 0;`
COMPARE_BYTES = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param i32 i32 i32) (result i32) (local i32 i32 i32)
    block
      local.get 2
      i32.const 0
      i32.le_s
      br_if 0
      loop
        local.get 0
        i32.load8_u
        local.tee 4
        local.get 1
        i32.load8_u
        local.tee 5
        i32.eq
        if
          local.get 0
          i32.const 1
          i32.add
          local.set 0
          local.get 1
          i32.const 1
          i32.add
          local.set 1
          local.get 2
          i32.const 1
          i32.sub
          local.tee 2
          br_if 1
          br 2
        end
      end
      local.get 4
      local.get 5
      i32.sub
      local.set 3
    end
    local.get 3))
"""

# clang -O2 of `for (i = 0; i < n; i++) if (a[i] != b[i]) return 0; return 1;` (first byte peeled)
EQUAL_BYTES = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param i32 i32 i32) (result i32) (local i32 i32)
    block (result i32)
      i32.const 1
      local.get 2
      i32.const 0
      i32.le_s
      br_if 0
      drop
      i32.const 0
      local.get 0
      i32.load8_u
      local.get 1
      i32.load8_u
      i32.ne
      br_if 0
      drop
      i32.const 1
      local.set 4
      loop
        local.get 4
        local.tee 3
        local.get 2
        i32.ne
        if
          local.get 3
          i32.const 1
          i32.add
          local.set 4
          local.get 0
          local.get 3
          i32.add
          i32.load8_u
          local.get 1
          local.get 3
          i32.add
          i32.load8_u
          i32.eq
          br_if 1
        end
      end
      local.get 2
      local.get 3
      i32.le_s
    end))
"""

# i = 0; while (i < n && p[i] != t) i++; return i;   (memchr as an index).
# FIND_BYTE_LOOP is its loop, which stays after a rewrite to find the byte.
FIND_BYTE_LOOP = """      loop
        local.get $i
        local.get $n
        i32.ge_u
        br_if 1
        local.get $p
        local.get $i
        i32.add
        i32.load8_u
        local.get $t
        i32.eq
        br_if 1
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br 0
      end"""
FIND_BYTE = f"""
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (param $t i32) (result i32) (local $i i32)
    block
{FIND_BYTE_LOOP}
    end
    local.get $i))
"""

# while (n && *p == ' ') { p++; n--; } return p;   (skip a run of one byte value)
SKIP_SPACES = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32)
    block
      loop
        local.get $n
        i32.eqz
        br_if 1
        local.get $p
        i32.load8_u
        i32.const 32
        i32.ne
        br_if 1
        local.get $p
        i32.const 1
        i32.add
        local.set $p
        local.get $n
        i32.const 1
        i32.sub
        local.set $n
        br 0
      end
    end
    local.get $p))
"""

SEARCHES = {"compare_bytes": COMPARE_BYTES, "equal_bytes": EQUAL_BYTES, "find_byte": FIND_BYTE,
            "skip_spaces": SKIP_SPACES}

# s = 0; for (i = 0; i < n; i++) s += (*pp)[i];   the buffer's address read from memory every iteration
SUM_THROUGH_POINTER = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param $pp i32) (param $n i32) (result i32) (local $i i32) (local $s i32)
    block
      loop
        local.get $i
        local.get $n
        i32.ge_s
        br_if 1
        local.get $s
        local.get $pp
        i32.load offset=0
        local.get $i
        i32.add
        i32.load8_u
        i32.add
        local.set $s
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br 0
      end
    end
    local.get $s))
"""

# clang -O2 of `for (i = 0; i < n; i++) c += a[i] == b[i];` (unrolled by two, the odd byte after)
COUNT_SAME = """
(module
  (memory (export "memory") 2)
  (func (export "f") (param i32 i32 i32) (result i32) (local i32 i32 i32 i32 i32)
    local.get 2
    i32.const 0
    i32.le_s
    if
      i32.const 0
      return
    end
    local.get 2
    i32.const 1
    i32.and
    local.set 4
    block
      local.get 2
      i32.const 1
      i32.eq
      if
        i32.const 0
        local.set 2
        br 1
      end
      local.get 2
      i32.const -2
      i32.and
      local.set 5
      i32.const 0
      local.set 2
      loop
        local.get 3
        local.get 0
        local.get 2
        i32.add
        local.tee 6
        i32.load8_u
        local.get 1
        local.get 2
        i32.add
        local.tee 7
        i32.load8_u
        i32.eq
        i32.add
        local.get 6
        i32.const 1
        i32.add
        i32.load8_u
        local.get 7
        i32.const 1
        i32.add
        i32.load8_u
        i32.eq
        i32.add
        local.set 3
        local.get 5
        local.get 2
        i32.const 2
        i32.add
        local.tee 2
        i32.ne
        br_if 0
      end
    end
    local.get 4
    if (result i32)
      local.get 3
      local.get 0
      local.get 2
      i32.add
      i32.load8_u
      local.get 1
      local.get 2
      i32.add
      i32.load8_u
      i32.eq
      i32.add
    else
      local.get 3
    end))
"""
