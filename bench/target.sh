# Sourced by the bench scripts, from the project root: the cargo target
# directory as an absolute path in $target, exported as CARGO_TARGET_DIR
# (./target unless CARGO_TARGET_DIR names another).
target=${CARGO_TARGET_DIR:-$PWD/target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
export CARGO_TARGET_DIR=$target
