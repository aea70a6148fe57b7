# Attack event → nftables element latency, shared by scripts/interop/response.sh
# and scripts/bench.sh. Source it; needs root, nft, curl, iproute2.
#
# nft_attack_latency NS DECKY PREFIX FIRST COUNT EVENT_LOG WORK [GAP]
#   In network namespace NS, where a decnet with `[response] ban_on =
#   auth_attempt` and the nftables backend serves http on DECKY:80, COUNT
#   attackers PREFIX.FIRST … PREFIX.(FIRST+COUNT-1) each send one failed
#   Basic login (`curl --interface`), GAP seconds apart (default 0.1).
#   `nft monitor elements` timestamps each element as the kernel adds it; the
#   attack event's own timestamp is read from decnet's event log EVENT_LOG
#   (RFC 5424). Sets NFT_N, NFT_P50_US, NFT_P99_US, NFT_MAX_US; returns 1 (with
#   a message on stderr) when an attacker's element or event never showed.
nft_attack_latency() {
  local ns=$1 decky=$2 prefix=$3 first=$4 count=$5 evlog=$6 work=$7 gap=${8:-0.1}
  local mon="$work/nft-monitor.txt" lat="$work/nft-lat.txt" fifo="$work/nft-monitor.fifo"
  local last=$((first + count - 1)) i src t_elem ev_ts t_ev mon_pid stamp_pid found
  local -a clients=()
  rm -f "$fifo" "$mon" "$lat"
  mkfifo "$fifo"
  ip netns exec "$ns" stdbuf -oL nft monitor elements >"$fifo" 2>/dev/null &
  mon_pid=$!
  while IFS= read -r line; do echo "$(date +%s%N) $line"; done <"$fifo" >"$mon" &
  stamp_pid=$!
  sleep 0.5
  for i in $(seq "$first" "$last"); do
    ip netns exec "$ns" curl -s -m 2 --interface "$prefix.$i" -u "admin:x$i" -o /dev/null "http://$decky/admin" &
    clients+=($!)
    sleep "$gap"
  done
  : >"$lat"
  local rc=0
  for i in $(seq "$first" "$last"); do
    src=$prefix.$i
    found=0
    for _ in $(seq 1 100); do grep -q "$src " "$mon" && { found=1; break; }; sleep 0.05; done
    if [ "$found" != 1 ]; then echo "nft monitor never saw $src" >&2; rc=1; break; fi
    t_elem=$(grep -m1 "add element.* $src " "$mon" | cut -d' ' -f1)
    ev_ts=$(grep -m1 "auth_attempt \[relay@55555 src_ip=\"$src\"" "$evlog" | cut -d' ' -f2)
    if [ -z "$ev_ts" ] || [ -z "$t_elem" ]; then echo "no event/element timestamps for $src" >&2; rc=1; break; fi
    t_ev=$(date -d "$ev_ts" +%s%N)
    echo $(((t_elem - t_ev) / 1000)) >>"$lat"
  done
  kill "$mon_pid" 2>/dev/null || true
  wait "$mon_pid" "$stamp_pid" 2>/dev/null || true
  wait "${clients[@]}" 2>/dev/null || true
  [ "$rc" = 0 ] || return 1
  sort -n "$lat" >"$lat.s"
  NFT_N=$(wc -l <"$lat.s")
  NFT_P50_US=$(awk '{a[NR]=$1} END {print a[int((NR+1)*0.5)]}' "$lat.s")
  NFT_P99_US=$(awk '{a[NR]=$1} END {i=int(NR*0.99+0.999); print a[i]}' "$lat.s")
  NFT_MAX_US=$(tail -1 "$lat.s")
}
