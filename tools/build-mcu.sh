#!/usr/bin/env bash
# Builds the device core and the test firmware for a Cortex-M4F (QEMU's
# mps2-an386) and prints flash and RAM per module (docs/mcu.md).
#
#   tools/build-mcu.sh [--res 224] [--out DIR] [--build DIR] [--edgesplit PATH] [--run] [--icount]
#
# 1. `edgesplit split mobilenet_v2:alpha=0.35,res=RES --split block_16_project_BN
#    --format flat --dtype int8` writes the int8 head segment (DIR/segment/segment_0.essg);
# 2. a fixed input (seeded uniform floats in [-1, 1), raw little-endian f32) is
#    written to DIR/input.bin;
# 3. the firmware embedding both is built with gcc-arm-none-eabi + newlib;
# 4. flash/RAM per module are printed from the link map (after --gc-sections);
# 5. with --run it runs under qemu-system-arm -M mps2-an386 -semihosting
#    (--icount: -icount shift=0, so SysTick ticks count instructions, 40 per
#    tick) and writes the firmware's output to DIR/qemu.out; the secure-link
#    crypto firmware (mcu/crypto_main.cc) runs next, into DIR/crypto.out.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
res=224
out=""
build=""
edgesplit=""
run=0
icount=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --res) res="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --edgesplit) edgesplit="$2"; shift 2 ;;
    --run) run=1; shift ;;
    --icount) icount=1; run=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "build-mcu: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
out="${out:-$root/build-arm/res$res}"
build="${build:-$root/build-arm}"
for tool in arm-none-eabi-g++ arm-none-eabi-size flatc; do
  command -v "$tool" >/dev/null || { echo "build-mcu: '$tool' not found (scripts/install-deps.sh installs it)" >&2; exit 3; }
done
if [[ -z "$edgesplit" ]]; then
  for candidate in "$root/build/edgesplit" "$root/build-mcu/edgesplit"; do
    [[ -x "$candidate" ]] && { edgesplit="$candidate"; break; }
  done
fi
[[ -x "$edgesplit" ]] || { echo "build-mcu: no host edgesplit binary (build it, or pass --edgesplit PATH)" >&2; exit 3; }

model="mobilenet_v2:alpha=0.35,res=$res"
mkdir -p "$out"
"$edgesplit" split "$model" --split block_16_project_BN --format flat --dtype int8 --out-dir "$out/segment" >/dev/null
/usr/bin/env python3 - "$out/input.bin" "$res" <<'PY'
import random, struct, sys
path, res = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
with open(path, "wb") as f:
    f.write(struct.pack("<%df" % (3 * res * res), *(rng.uniform(-1.0, 1.0) for _ in range(3 * res * res))))
PY

cmake -S "$root/mcu" -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$root/mcu/cortex-m4.cmake" \
  -DES_MCU_SEGMENT="$out/segment/segment_0.essg" -DES_MCU_INPUT="$out/input.bin" >/dev/null
cmake --build "$build" -j2 > "$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }
cp "$build/firmware.elf" "$build/firmware.map" "$out/"

echo "firmware: $out/firmware.elf ($model int8 head, cut block_16_project_BN)"
/usr/bin/env python3 - "$out/firmware.map" <<'PY'
# Sums the link map's input sections per module: flash = code, read-only data,
# exception index and .data's initial values; RAM = .data + .bss (+ stack).
import collections, re, sys
flash, ram = collections.Counter(), collections.Counter()
out_section = None
pending = None
def module(path):
    m = re.search(r"lib(es_\w+)\.a\(", path)
    if m: return m.group(1)
    if "model_blobs" in path: return "embedded model+input"
    if "CMakeFiles/firmware.elf" in path: return "firmware (main, seam, startup)"
    m = re.search(r"(lib[\w+]+)\.a\(", path)
    return m.group(1) if m else "other"
for line in open(sys.argv[1]):
    m = re.match(r"^(\.[\w.]+)\s", line)
    if m and not line.startswith(" "):
        out_section = m.group(1)
    if not line.startswith(" ") or out_section is None:
        continue
    m = re.match(r"^ (\S+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$", line)
    if m:
        size, path = int(m.group(3), 16), m.group(4)
    else:
        m2 = re.match(r"^ (\.\S+)$", line)
        if m2:
            pending = True
            continue
        m3 = re.match(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$", line)
        if not (m3 and pending):
            continue
        size, path = int(m3.group(2), 16), m3.group(3)
        pending = None
    if size == 0: continue
    name = module(path)
    if out_section in (".text", ".ARM.exidx", ".ARM.extab", ".init_array", ".fini_array", ".preinit_array", ".model"):
        flash[name] += size
    elif out_section == ".data":
        flash[name] += size; ram[name] += size
    elif out_section == ".bss":
        ram[name] += size
names = sorted(set(flash) | set(ram), key=lambda n: (not n.startswith("es_"), n))
print("%-32s %10s %10s" % ("module", "flash B", "RAM B"))
for n in names:
    print("%-32s %10d %10d" % (n, flash[n], ram[n]))
core = [n for n in names if n.startswith("es_")]
print("%-32s %10d %10d" % ("device core (es_*)", sum(flash[n] for n in core), sum(ram[n] for n in core)))
stack = heap = 0
for line in open(sys.argv[1]):
    m = re.match(r"^\.(stack|heap)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)", line)
    if m:
        if m.group(1) == "stack": stack = int(m.group(3), 16)
        else: heap = int(m.group(3), 16)
print("%-32s %10s %10d" % ("stack (reserved)", "", stack))
print("%-32s %10d %10d" % ("total static", sum(flash.values()), sum(ram.values()) + stack))
print("heap region %d B (PSRAM); the firmware reports what start-up used ('heap' below)" % heap)
PY
arm-none-eabi-size "$out/firmware.elf"
echo "core libraries before --gc-sections (arm-none-eabi-size -t, text+data):"
for lib in es_graph es_kernels es_exec es_wire es_segment es_codec; do
  printf '  %-12s %8s B\n' "$lib" "$(arm-none-eabi-size -t "$build/lib$lib.a" | tail -1 | awk '{print $1 + $2}')"
done

if [[ $run -eq 1 ]]; then
  command -v qemu-system-arm >/dev/null || { echo "build-mcu: qemu-system-arm not found" >&2; exit 3; }
  qemu_common=(-M mps2-an386 -nographic -monitor none -serial none -semihosting-config enable=on,target=native)
  [[ $icount -eq 1 ]] && qemu_common+=(-icount shift=0)
  qemu_flags=("${qemu_common[@]}" -kernel "$out/firmware.elf")
  start=$(date +%s.%N)
  timeout "${EDGESPLIT_QEMU_TIMEOUT:-600}" qemu-system-arm "${qemu_flags[@]}" > "$out/qemu.out"
  # The ticks count instructions only under -icount (edgesplit profile --from-mcu-trace needs this line).
  [[ $icount -eq 1 ]] && echo "icount_shift 0" >> "$out/qemu.out"
  end=$(date +%s.%N)
  grep -v '^cut_tensor\|^layer' "$out/qemu.out" || true
  echo "cut tensor: $(grep '^cut_tensor' "$out/qemu.out" | cut -d' ' -f2-5)"
  echo "qemu: $(awk "BEGIN{printf \"%.1f\", $end - $start}") s wall; output in $out/qemu.out"
  # The secure-link crypto firmware (docs/security.md): per-operation ticks and a sealed frame.
  cp "$build/crypto_firmware.elf" "$out/"
  timeout "${EDGESPLIT_QEMU_TIMEOUT:-600}" qemu-system-arm "${qemu_common[@]}" -kernel "$out/crypto_firmware.elf" > "$out/crypto.out"
  grep '^op ' "$out/crypto.out" || true
fi
