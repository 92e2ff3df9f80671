# Sourced by the other scripts: runs setup and puts npm's global bin (where bun lands) on PATH.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$(npm prefix -g 2>/dev/null)/bin:$PATH"
./scripts/setup
