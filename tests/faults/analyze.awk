# Proofs and loss accounting of one tests/faults/wire_faults.sh scenario
# (POSIX awk). Input files, in this order, recognised by their names:
#
#   scenario.meta   devstart N / devkill N         device life N started / got SIGKILL
#                   gwstart K E F UP / gwkill K     gateway life K started from the
#                                                   stored state (E, F) ("- -": none)
#                                                   when the relay log had UP lines
#   dev.N.log       EPOCH SEQ SHA256               every record device life N sealed
#                                                   (written before it is sent)
#   relay.log       EPOCH SEQ FATE                  every datagram the relay received,
#                                                   in order; FATE fwd, dup, corrupt, drop
#   gw.K.acc        EPOCH SEQ SHA256               every record gateway life K accepted
#   gw.K.rej        EPOCH SEQ REASON               every datagram gateway life K refused
#
# Proofs (each failure prints a PROBLEM line):
#   P1 no (epoch, seq) sealed twice over all device lives, and each device
#      life starts above every epoch of the lives before it;
#   P2 every accepted (epoch, seq) was sealed with the same plaintext digest;
#   P3 no (epoch, seq) accepted twice over all gateway lives (no replay);
#   P4 every gateway restart state covers what was accepted before it: its
#      epoch is the highest accepted so far and its floor is above every
#      accepted sequence number of that epoch.
# Loss accounting: every record sealed and never accepted must have one
# cause, checked in this order, each with its bound:
#   dropped     the relay dropped the original (fate drop)
#   corrupted   the relay flipped a bit of the original (fate corrupt)
#   device-kill the record is the last one logged by a device life killed
#               with SIGKILL and the relay never got it (<= 1 per device kill)
#   skipped     a record of the last epoch X of a device life killed with
#               SIGKILL, refused as "stale epoch" while no record of X was
#               ever accepted and a later device life (epoch > X) reached the
#               relay: the relay held it back (reordering) behind the later
#               life's first record, so the gateway moved from an epoch below
#               X straight to the later one and keeps only its old current
#               epoch as previous (PROTOCOL.md 6.3) (<= 1 per device kill:
#               the relay holds back one datagram at a time)
#   gw-down     the relay forwarded it while gateway life K-1 was dead or had
#               it queued: relay position in [last position accepted by lives
#               < K minus 1 (one held back by reordering), relay lines when
#               life K listened]; bound: the size of these windows
#   floor       refused by a life >= K because it lies below the restart floor
#               F of epoch E (seq in (highest seq of E accepted before, F)):
#               "outside replay window", or "stale epoch" once that life no
#               longer keeps E even as its previous epoch (a late record).
#               Records of E at or above F are no cause: after a restart E
#               is kept as previous like any current epoch (PROTOCOL.md 6.3),
#               for grace_seconds (30), longer than a scenario; bound: F - 1 - that
#               highest seq, one floor step (PROTOCOL.md 6.4)
# and sent - delivered <= dropped + corrupted + 2 x device kills + windows +
# floor steps. Anything left is "unexplained" and fails. With expect_exact=1 (no
# gateway kill) also lost == dropped + corrupted + device-kill losses.
#
# Variables: id, title, expect_exact. Output: the scenario table, PROBLEM
# lines, and one line "ROW id title|sent|delivered|lost|dropped|corrupted|
# devkill|skipped|gwdown|floor|unexplained|replayed|outside_window|auth|expired|
# stale_epoch|malformed|other|problems".

function base(f) {
    sub(/.*\//, "", f)
    return f
}

function problem(msg) {
    problems++
    if (problems <= 25)
        printf "    PROBLEM: %s\n", msg
}

function ep(key, a) {
    split(key, a, " ")
    return a[1] + 0
}

function sq(key, a) {
    split(key, a, " ")
    return a[2] + 0
}

BEGIN {
    problems = 0
    nreasons = split("replayed outside_window auth expired stale_epoch malformed other", reason, " ")
}

FNR == 1 {
    b = base(FILENAME)
    n = split(b, parts, ".")
    kind = parts[1] "." parts[n]
    life = n == 3 ? parts[2] + 0 : 0
}

kind == "scenario.meta" && $1 == "devstart" {
    if ($2 + 0 > ndev)
        ndev = $2 + 0
}
kind == "scenario.meta" && $1 == "devkill" {
    dkilled[$2 + 0] = 1
    devkills++
}
kind == "scenario.meta" && $1 == "gwstart" {
    k = $2 + 0
    if (k > ngw)
        ngw = k
    stE[k] = $3
    stF[k] = $4
    lup[k] = $5 + 0
}
kind == "scenario.meta" && $1 == "gwkill" {
    gwkills++
}

kind == "dev.log" {
    key = ($1 + 0) " " ($2 + 0)
    if (key in ddig)
        problem("P1: (epoch, seq) " key " sealed twice: device lives " dlife[key] " and " life)
    else
        nsent++
    ddig[key] = $3
    dlife[key] = life
    dlast[life] = key
    dcount[life]++
    if (!(life in dmin) || $1 + 0 < dmin[life])
        dmin[life] = $1 + 0
    if (!(life in dmax) || $1 + 0 > dmax[life])
        dmax[life] = $1 + 0
}

kind == "relay.log" {
    nrelay++
    nfate[$3]++
    if ($1 == "-")
        next
    key = ($1 + 0) " " ($2 + 0)
    if (key in ridx)
        problem("the relay received " key " twice from the device")
    ridx[key] = FNR
    fate[key] = $3
    if ((key in dlife) && !(dlife[key] in rfirst))
        rfirst[dlife[key]] = FNR
}

kind == "gw.acc" {
    key = ($1 + 0) " " ($2 + 0)
    nacc++
    if (key in alife)
        problem("P3: (epoch, seq) " key " accepted twice: gateway lives " alife[key] " and " life " (a replay was accepted)")
    else
        ndeliv++
    alife[key] = life
    eacc[$1 + 0] = 1
    if (!(key in ddig))
        problem("P2: accepted " key " was never sealed by the device (forgery accepted)")
    else if (ddig[key] != $3)
        problem("P2: accepted " key " with a plaintext the device did not seal (digest differs)")
}

kind == "gw.rej" {
    r = $3
    known = 0
    for (i = 1; i <= nreasons; i++)
        if (reason[i] == r)
            known = 1
    if (!known)
        r = "other"
    rej[r]++
    nrej++
    if ((r == "outside_window" || r == "stale_epoch") && $1 != "-")
        refused[($1 + 0) " " ($2 + 0), life] = 1
    if (r == "stale_epoch" && $1 != "-")
        rstale[($1 + 0) " " ($2 + 0)] = 1
}

END {
    # P1: every device life starts above the epochs of the lives before it.
    hi = -1
    for (n = 1; n <= ndev; n++) {
        if (!(n in dmin))
            continue
        if (dmin[n] <= hi)
            problem("P1: device life " n " starts at epoch " dmin[n] ", not above epoch " hi " of an earlier life")
        if (dmax[n] > hi)
            hi = dmax[n]
    }
    for (key in ridx)
        if (!(key in ddig))
            problem("the relay received " key ", which no device life logged before sending")

    # P4 and the restart windows: for each gateway life K >= 2, what lives < K accepted.
    for (key in alife) {
        j = alife[key]
        if (fate[key] == "drop" || fate[key] == "corrupt")
            problem("record " key " was accepted although the relay " (fate[key] == "drop" ? "dropped" : "corrupted") " it")
        for (k = j + 1; k <= ngw; k++) {
            if ((key in ridx) && ridx[key] > ilast[k])
                ilast[k] = ridx[key]
            if (stE[k] == "-") {
                problem("P4: gateway life " k " started with no stored state although life " j " had accepted " key)
                continue
            }
            if (ep(key) > stE[k] + 0)
                problem("P4: life " j " accepted " key " but life " k " started from epoch " stE[k])
            if (ep(key) == stE[k] + 0 && (!(k in macc) || sq(key) > macc[k]))
                macc[k] = sq(key)
        }
    }
    wins = 0
    steps = 0
    for (k = 2; k <= ngw; k++) {
        lo[k] = (k in ilast ? ilast[k] : 0) - 1
        wsize[k] = lup[k] - lo[k] + 1
        if (wsize[k] < 0)
            wsize[k] = 0
        wins += wsize[k]
        if (stE[k] != "-") {
            base_seq = k in macc ? macc[k] : -1
            if (stF[k] + 0 <= base_seq)
                problem("P4: gateway life " k " floor " stF[k] " of epoch " stE[k] " is not above seq " base_seq " accepted before the crash")
            step[k] = stF[k] - 1 - base_seq
            steps += step[k]
        }
    }

    # Loss accounting.
    for (key in ddig) {
        if (key in alife)
            continue
        lost++
        f = key in fate ? fate[key] : ""
        if (f == "drop") {
            c_drop++
            continue
        }
        if (f == "corrupt") {
            c_corrupt++
            continue
        }
        if (f == "") {
            n = dlife[key]
            if ((n in dkilled) && dlast[n] == key) {
                c_devkill++
                continue
            }
            c_unexpl++
            problem("record " key " (device life " n ") never reached the relay")
            continue
        }
        found = 0
        for (k = 2; k <= ngw && !found; k++)
            if (ridx[key] >= lo[k] && ridx[key] <= lup[k]) {
                found = 1
                c_down++
                cdown[k]++
            }
        if (found)
            continue
        for (k = 2; k <= ngw && !found; k++) {
            if (stE[k] == "-" || ep(key) != stE[k] + 0 || sq(key) >= stF[k] + 0)
                continue
            if ((k in macc) && sq(key) <= macc[k])
                continue
            for (j = k; j <= ngw && !found; j++)
                if ((key, j) in refused)
                    found = 1
            if (found) {
                c_floor++
                cfloor[k]++
            }
        }
        if (found)
            continue
        n = dlife[key]
        if ((n in dkilled) && ep(key) == dmax[n] && (key in rstale) && !(ep(key) in eacc))
            for (m = n + 1; m <= ndev && !found; m++)
                if (m in rfirst)
                    found = 1
        if (found) {
            c_skip++
            continue
        }
        c_unexpl++
        problem("record " key " was forwarded intact (fate " f ", relay line " ridx[key] ") but never accepted, and no fault explains it")
    }
    lost += 0
    c_drop += 0
    c_corrupt += 0
    c_devkill += 0
    c_skip += 0
    c_down += 0
    c_floor += 0
    c_unexpl += 0
    devkills += 0
    gwkills += 0
    if (c_devkill > devkills)
        problem("device-kill losses " c_devkill " exceed the " devkills " device kills")
    if (c_skip > devkills)
        problem("skipped-epoch losses " c_skip " exceed the " devkills " device kills")
    for (k = 2; k <= ngw; k++)
        if (cfloor[k] + 0 > step[k] + 0)
            problem("gateway life " k ": " cfloor[k] " records lost below the floor, more than one floor step (" step[k] ")")
    bound = nfate["drop"] + nfate["corrupt"] + 2 * devkills + wins + steps
    if (nsent - ndeliv > bound)
        problem("sent - delivered = " nsent - ndeliv " exceeds the bound " bound)
    if (expect_exact && lost != c_drop + c_corrupt + c_devkill)
        problem("no gateway restart, yet lost " lost " != dropped " c_drop " + corrupted " c_corrupt " + device-kill " c_devkill)
    if (nsent == 0 || ndeliv == 0)
        problem("nothing was sent or delivered")

    printf "  %-44s %8s\n", "records", "count"
    printf "  %-44s %8d\n", "sealed and logged by the device (distinct)", nsent
    printf "  %-44s %8d\n", "delivered = accepted by the gateway", ndeliv
    printf "  %-44s %8d\n", "lost = sealed - delivered", lost
    printf "  %-44s %8d\n", "  dropped by the relay", c_drop
    printf "  %-44s %8d\n", "  corrupted by the relay", c_corrupt
    printf "  %-44s %8d   (bound %d: one per device kill)\n", "  in flight at a device kill", c_devkill, devkills
    printf "  %-44s %8d   (bound %d: one per device kill)\n", "  held back into a skipped epoch", c_skip, devkills
    printf "  %-44s %8d   (bound %d: restart windows)\n", "  gateway dead or queued at its kill", c_down, wins
    printf "  %-44s %8d   (bound %d: one floor step per restart)\n", "  below the restart floor", c_floor, steps
    printf "  %-44s %8d\n", "  unexplained", c_unexpl
    printf "  check: sent - delivered = %d <= dropped %d + corrupted %d + 2 x device kills %d + windows %d + floor steps %d = %d\n", nsent - ndeliv, nfate["drop"] + 0, nfate["corrupt"] + 0, devkills, wins, steps, bound
    for (k = 2; k <= ngw; k++)
        printf "  gateway life %d: restarted from epoch %s floor %s (highest seq of that epoch accepted before: %s), relay window %d..%d: %d lost there, %d below the floor\n", k, stE[k], stF[k], (k in macc ? macc[k] : "none"), lo[k], lup[k], cdown[k] + 0, cfloor[k] + 0
    printf "  %-44s %8s\n", "rejected datagrams (all gateway lives)", "count"
    for (i = 1; i <= nreasons; i++)
        printf "  %-44s %8d\n", "  " reason[i], rej[reason[i]] + 0
    printf "  %-44s %8d\n", "  total", nrej + 0
    printf "  proofs: P1 no (epoch, seq) reused, P2 no forgery accepted, P3 no replay accepted, P4 restart states cover all accepted: %s\n", problems == 0 ? "all hold" : problems " PROBLEM(S)"
    printf "ROW %s|%s|%d|%d|%d|%d|%d|%d|%d|%d|%d|%d", id, title, nsent, ndeliv, lost, c_drop, c_corrupt, c_devkill, c_skip, c_down, c_floor, c_unexpl
    for (i = 1; i <= nreasons; i++)
        printf "|%d", rej[reason[i]] + 0
    printf "|%d\n", problems
}
