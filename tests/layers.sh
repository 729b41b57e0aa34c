#!/usr/bin/env bash
# The layer rule: a module in src/<layer>/ or include/canaryd/<layer>/ includes
# only canaryd headers of its own layer or of the layers below it. The order,
# lowest first, is the LAYERS list; src/main.c (the wiring) may include any.
# Prints each include that breaks the rule and fails when there is one.
set -u
cd "$(dirname "$0")/.."
LAYERS=(core conf route engine http1 proxy ops)
rank() {
    local i
    for i in "${!LAYERS[@]}"; do [ "${LAYERS[$i]}" = "$1" ] && { echo "$i"; return; }; done
    echo -1
}
bad=0
for f in src/*/*.c include/canaryd/*/*.h; do
    layer=${f#src/}; layer=${layer#include/canaryd/}; layer=${layer%%/*}
    own=$(rank "$layer")
    if [ "$own" -lt 0 ]; then
        echo "layers: $f: folder '$layer' is not a layer (${LAYERS[*]})"; bad=1; continue
    fi
    while IFS=: read -r line inc; do
        dep=${inc#canaryd/}; dep=${dep%%/*}
        [ "$dep" = common.h ] && continue
        r=$(rank "$dep")
        if [ "$r" -lt 0 ] || [ "$r" -gt "$own" ]; then
            echo "layers: $f:$line: $layer includes $inc"; bad=1
        fi
    done < <(grep -no '^#include "canaryd/[^"]*"' "$f" | sed 's/#include "//; s/"$//')
done
[ $bad -eq 0 ] && echo "layers: ok (${LAYERS[*]})"
exit $bad
