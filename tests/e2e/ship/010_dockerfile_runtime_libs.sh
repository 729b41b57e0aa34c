#!/usr/bin/env bash
# The Dockerfile's runtime stage installs every Debian package whose shared library
# the canaryd binary links (ldd -> dpkg -S), so the image cannot fail at start with
# "error while loading shared libraries"; and it has the instructions a production
# image needs: a non-root USER, EXPOSE 8080 9901, STOPSIGNAL SIGTERM, an exec-form
# ENTRYPOINT (so canaryd is PID 1 and gets the signals) and CMD -c /etc/canaryd.
# No docker engine is needed: the Dockerfile is read, not built.
set -u
root=$(cd "$(dirname "$0")/../../.." && pwd)
bin=${CANARYD:-$root/build/canaryd}
df=$root/Dockerfile
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

[ -f "$df" ] || { echo "FAIL: no Dockerfile at $df"; exit 1; }
[ -x "$bin" ] || { echo "skip: no canaryd binary at $bin"; exit 77; }
command -v ldd >/dev/null && command -v dpkg >/dev/null ||
    { echo "skip: needs ldd and dpkg (a Debian system)"; exit 77; }

# ---- the Dockerfile: continuation lines joined, comments dropped, stages split ----
joined=$(awk '
    /^[[:space:]]*#/ { next }
    { line = $0
      if (sub(/\\[[:space:]]*$/, "", line)) { buf = buf line " "; next }
      print buf line; buf = "" }
    END { if (buf != "") print buf }' "$df")
nstages=$(grep -ciE '^[[:space:]]*FROM[[:space:]]' <<<"$joined")
[ "$nstages" -ge 2 ] || fail "expected a multi-stage Dockerfile (build + runtime), found $nstages FROM"
# The runtime stage: everything after the last FROM.
runtime=$(awk 'toupper($1) == "FROM" { s = "" } { s = s $0 "\n" } END { printf "%s", s }' <<<"$joined")
build=$(awk 'toupper($1) == "FROM" { n++ } n == 1' <<<"$joined")
instr() { # instr NAME: the arguments of every NAME instruction of the runtime stage
    awk -v n="$1" 'toupper($1) == n { $1 = ""; sub(/^ /, ""); print }' <<<"$runtime"
}

from_rt=$(awk 'toupper($1) == "FROM" { print $2 }' <<<"$runtime")
case $from_rt in
debian:bookworm-slim*) ok "runtime stage FROM $from_rt" ;;
*) fail "runtime stage should be FROM debian:bookworm-slim, is '$from_rt'" ;;
esac
from_b=$(awk 'toupper($1) == "FROM" { print $2 }' <<<"$build")
case $from_b in
debian:bookworm | debian:bookworm@* | debian:bookworm-[0-9]*) ok "build stage FROM $from_b" ;;
*) fail "build stage should be FROM debian:bookworm, is '$from_b'" ;;
esac
grep -qE '(^|[^a-z])make([^a-z]|$)' <<<"$(awk 'toupper($1) == "RUN"' <<<"$build")" ||
    fail "the build stage does not run make"

# Packages named by apt-get install in a stage's RUN lines.
apt_pkgs() {
    awk 'toupper($1) == "RUN"' | grep -oE 'apt(-get)?([[:space:]]+-[^[:space:]]+)*[[:space:]]+install[^&;|]*' |
        sed -E 's/^apt(-get)?([[:space:]]+-[^[:space:]]+)*[[:space:]]+install//' |
        tr ' \t' '\n\n' | grep -vE '^(-.*)?$' | sed 's/=.*//' | sort -u
}
rt_pkgs=$(apt_pkgs <<<"$runtime")
[ -n "$rt_pkgs" ] || fail "the runtime stage installs no package with apt-get install"
grep -qE 'install.*--no-install-recommends' <<<"$runtime" ||
    fail "the runtime apt-get install should use --no-install-recommends"
grep -qE 'rm -rf /var/lib/apt/lists' <<<"$runtime" ||
    fail "the runtime stage should remove /var/lib/apt/lists in the same RUN"
for p in $(apt_pkgs <<<"$build"); do
    case $p in *-dev) ;; build-essential | pkg-config | make | gcc | clang) ;;
    *) echo "note: build stage also installs $p" ;;
    esac
done

# ---- the binary: ldd -> file -> Debian package ------------------------------------
ldd_out=$(ldd "$bin" 2>&1) || { echo "$ldd_out"; fail "ldd $bin failed"; }
if grep -q 'not found' <<<"$ldd_out"; then
    fail "libraries not found on this machine: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t' ' ')"
fi
sanitized=0
grep -qE 'lib(a|ub|l|t)san\.so' <<<"$ldd_out" && sanitized=1

libs=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out" | sort -u)
# One dpkg -S for all of them (it is slow): each library under the path ldd printed,
# its real path, and its /usr or non-/usr twin (Debian's merged /usr).
cands=$(for lib in $libs; do
    printf '%s\n%s\n/usr%s\n%s\n' "$lib" "$(realpath -m "$lib")" "$lib" "${lib#/usr}"
done | sort -u)
owners=$(dpkg -S $cands 2>/dev/null)
pkg_of() { # pkg_of PATH: the Debian package that ships PATH (without :arch)
    local cand line
    for cand in "$1" "$(realpath -m "$1")" "/usr$1" "${1#/usr}"; do
        line=$(awk -v p="$cand" 'substr($0, length($0) - length(p) + 1) == p && index($0, ": " p) { print; exit }' <<<"$owners")
        [ -n "$line" ] && { echo "${line%%:*}" | sed 's/,.*//'; return 0; }
    done
    return 1
}

[ -n "$libs" ] || fail "ldd listed no library (is $bin dynamically linked?)"
needed=()
for lib in $libs; do
    pkg=$(pkg_of "$lib") || { fail "no Debian package ships $lib (dpkg -S)"; continue; }
    case $pkg in
    libc6 | libc6-* | libgcc-s1 | libgcc1)
        echo "ok: $lib ($pkg, in every Debian image)"; continue ;;
    libasan* | libubsan* | liblsan* | libtsan*)
        echo "ok: $lib ($pkg, sanitizer runtime of this test build, not shipped)"; continue ;;
    libstdc++6)
        if [ $sanitized = 1 ]; then
            echo "ok: $lib ($pkg, pulled in by the sanitizer runtime)"; continue
        fi ;;
    esac
    needed+=("$pkg")
    if grep -qxF "$pkg" <<<"$rt_pkgs"; then
        ok "$lib -> $pkg, installed by the runtime stage"
    else
        fail "$bin links $lib from package $pkg, which the runtime stage does not install (it installs: $(echo $rt_pkgs))"
    fi
done
for p in $rt_pkgs; do
    printf '%s\n' "${needed[@]}" | grep -qxF "$p" ||
        echo "note: the runtime stage installs $p, which the binary does not link directly"
done

# ---- the instructions a production image needs --------------------------------------
user=$(instr USER | tail -n 1)
case ${user%%:*} in
"") fail "the runtime stage has no USER (it would run as root)" ;;
root | 0) fail "USER is '$user': the image must not run as root" ;;
*) ok "USER $user" ;;
esac
ports=" $(instr EXPOSE | tr '\n' ' ' | sed 's#/tcp##g') "
for p in 8080 9901; do
    case $ports in *" $p "*) ok "EXPOSE $p" ;; *) fail "EXPOSE lacks $p (has:$ports)" ;; esac
done
sig=$(instr STOPSIGNAL | tail -n 1)
[ "$sig" = SIGTERM ] || [ "$sig" = TERM ] || [ "$sig" = 15 ] &&
    ok "STOPSIGNAL $sig" || fail "STOPSIGNAL should be SIGTERM, is '$sig'"

json0() { # json0 JSON: the first element of a JSON array of strings, or fail
    python3 -c 'import json, sys
v = json.loads(sys.argv[1])
assert isinstance(v, list) and v and all(isinstance(x, str) for x in v)
print("\n".join(v))' "$1" 2>/dev/null
}
ep=$(instr ENTRYPOINT | tail -n 1)
ep_list=$(json0 "$ep") || fail "ENTRYPOINT must be exec form (a JSON array), is: $ep"
if [ -n "${ep_list:-}" ]; then
    [ "$(head -n 1 <<<"$ep_list")" = /usr/local/bin/canaryd ] &&
        ok "ENTRYPOINT $ep" || fail "ENTRYPOINT should start /usr/local/bin/canaryd, is $ep"
fi
cmd=$(instr CMD | tail -n 1)
cmd_list=$(json0 "$cmd") || fail "CMD must be exec form (a JSON array), is: $cmd"
if [ -n "${cmd_list:-}" ]; then
    [ "$(echo $cmd_list)" = "-c /etc/canaryd" ] && ok "CMD $cmd" ||
        fail "CMD should be [\"-c\", \"/etc/canaryd\"], is $cmd"
fi
grep -qE '^COPY[[:space:]]+--from=[^[:space:]]+[[:space:]]+[^[:space:]]*build/canaryd[[:space:]]+/usr/local/bin/canaryd/?$' \
    <<<"$runtime" && ok "the binary is copied from the build stage" ||
    fail "no 'COPY --from=<build> .../build/canaryd /usr/local/bin/canaryd' in the runtime stage"
if [ -f "$root/.dockerignore" ]; then
    grep -qE '^/?build/?$' "$root/.dockerignore" && ok ".dockerignore keeps build/ out" ||
        fail ".dockerignore should exclude build/ (a host binary must not leak into the image)"
else
    fail "no .dockerignore"
fi

if [ $fails -gt 0 ]; then
    echo "$fails problem(s) in $df"
    exit 1
fi
echo "Dockerfile runtime stage matches the libraries of $bin"
