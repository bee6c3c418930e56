#!/usr/bin/env Rscript
# Reference values from R's vegan for planktonlm's distance-based RDA statistics.
#
# Run from the repository root:
#     Rscript tests/reference/vegan_reference.R
# Generated with R 4.2.2, vegan 2.6-4, permute 0.9-7 (Debian packages r-base-core,
# r-cran-vegan, r-cran-permute).  The versions actually used are written to
# fixtures/versions.tsv on every run.
#
# Inputs (committed): fixtures/varespec.tsv + fixtures/varechem.tsv are exported here
# from vegan's own data; fixtures/cruise_samples.tsv + fixtures/cruise_counts.tsv come
# from tests/reference/make_cruise.py (run that first if it changed).
# Outputs: fixtures/<dataset>_{bray,global,marginal,conditional,forward,varpart,
# varpart_tests}.tsv, fixtures/permutation_schemes.tsv, fixtures/versions.tsv.
# See fixtures/README.md for the column meanings.
#
# Distance: Bray-Curtis on relative abundances, vegdist(decostand(x, "total"), "bray").
# Ordination: dbrda() (keeps the negative eigenvalues of the Gower matrix, so that
# R2 = tr(HG)/tr(G) with the full G), never capscale().

suppressPackageStartupMessages(library(vegan))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script)) dirname(normalizePath(script)) else file.path("tests", "reference")
fx <- file.path(here, "fixtures")
dir.create(fx, showWarnings = FALSE)

EPS <- sqrt(.Machine$double.eps)  # vegan's tie tolerance in anova.cca

fmt <- function(df) {
  for (j in seq_along(df)) {
    if (is.double(df[[j]])) {
      df[[j]] <- ifelse(is.na(df[[j]]), "NA", sprintf("%.17g", df[[j]]))
    }
  }
  df
}
out <- function(df, name) {
  write.table(fmt(df), file.path(fx, name), sep = "\t", quote = FALSE,
              row.names = FALSE, na = "NA")
}
read_tsv <- function(name) {
  read.delim(file.path(fx, name), check.names = FALSE, stringsAsFactors = FALSE,
             colClasses = c(sample = "character"))
}

# --------------------------------------------------------------------------- data

data(varespec, varechem, package = "vegan")
vs <- data.frame(site = rownames(varespec), varespec, check.names = FALSE)
vc <- data.frame(site = rownames(varechem), varechem, check.names = FALSE)
write.table(vs, file.path(fx, "varespec.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
write.table(vc, file.path(fx, "varechem.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

cr_s <- read_tsv("cruise_samples.tsv")
cr_c <- read_tsv("cruise_counts.tsv")
stopifnot(identical(cr_s$sample, cr_c$sample))
stopifnot(identical(order(cr_s$station, cr_s$datetime), seq_len(nrow(cr_s))))
rownames(cr_c) <- cr_c$sample
cr_c$sample <- NULL

datasets <- list(
  varespec = list(
    comm = varespec,
    env = varechem[, c("N", "P", "K", "Ca", "pH", "Al", "Humdepth")],
    groups = list(nutrients = ~ N + P + K, base = ~ Ca + pH, aluminium = ~ Al + Humdepth),
    station = NULL
  ),
  cruise = list(
    comm = cr_c,
    env = cr_s[, c("temperature_c", "ph", "salinity_psu", "noise_index")],
    groups = list(temperature = ~ temperature_c, chemistry = ~ ph + salinity_psu),
    station = factor(cr_s$station)
  )
)

# ----------------------------------------------------------------- permutation schemes

schemes_for <- function(name, station) {
  if (name == "varespec") {
    return(list(free = list(ctrl = how(nperm = 9999), seed = 1L,
                            desc = "free, 9999 random permutations, set.seed(1) before each test")))
  }
  series <- how(within = Within(type = "series", constant = TRUE),
                plots = Plots(strata = station, type = "free"), nperm = 9999)
  mirror <- how(within = Within(type = "series", constant = TRUE, mirror = TRUE),
                plots = Plots(strata = station, type = "free"), nperm = 9999)
  list(
    series = list(ctrl = series, seed = 1L,
                  desc = "stations permuted freely (plots), same cyclic time shift in every station (within series, constant); complete enumeration"),
    series_mirror = list(ctrl = mirror, seed = 1L,
                         desc = "as series plus mirrored (reversed) series; complete enumeration"),
    free = list(ctrl = how(nperm = 999), seed = 1L,
                desc = "free, 999 random permutations, set.seed(1) before each test")
  )
}

# ------------------------------------------------------------------------ analysis
# dbrda()/update() evaluate the formula response `D` and `data = env` from the global
# environment, so these two are global variables reassigned per data set.

rows <- function(lst) do.call(rbind, lst)

gower <- function(Dm) {
  n <- nrow(Dm); H <- diag(n) - 1 / n
  -0.5 * H %*% (Dm^2) %*% H
}
hat <- function(X) { X <- scale(as.matrix(X), scale = FALSE); Q <- qr(X); qr.Q(Q) %*% t(qr.Q(Q)) }

test_p <- function(mod, sch, ...) {
  set.seed(sch$seed)
  a <- anova(mod, permutations = sch$ctrl, ...)
  a
}

scheme_rows <- list()
versions <- data.frame(
  software = c("R", "vegan", "permute"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("vegan")), as.character(packageVersion("permute")))
)

for (ds in names(datasets)) {
  spec <- datasets[[ds]]
  rel <- decostand(spec$comm, "total")
  D <- vegdist(rel, "bray")  # top-level loop: these are globals
  env <- spec$env
  vars <- colnames(env)
  n <- nrow(env)
  schemes <- schemes_for(ds, spec$station)
  full_fla <- as.formula(paste("D ~", paste(vars, collapse = " + ")))
  full <- dbrda(full_fla, data = env)

  # ---- hand checks of vegan's definitions against the full Gower matrix
  G <- gower(as.matrix(D))
  ev <- eigen(G, symmetric = TRUE, only.values = TRUE)$values
  Hx <- hat(env)
  r2_hand <- sum(diag(Hx %*% G)) / sum(diag(G))
  q <- qr(scale(env))$rank
  F_hand <- (sum(diag(Hx %*% G)) / q) / (sum(diag((diag(n) - Hx) %*% G %*% (diag(n) - Hx))) / (n - q - 1))
  R2 <- RsquareAdj(full)
  stopifnot(abs(R2$r.squared - r2_hand) < 1e-12, abs(full$tot.chi - sum(diag(G))) < 1e-12)

  # ---- permutation schemes: how many arrangements, how many used
  for (sn in names(schemes)) {
    sch <- schemes[[sn]]
    set.seed(sch$seed)
    pm <- vegan:::getPermuteMatrix(sch$ctrl, n)
    np <- round(numPerms(n, sch$ctrl))  # numPerms gives 288.00000000000006 here
    complete <- isTRUE(getComplete(attr(pm, "control")))
    if (complete && nrow(pm) != np - 1) stop(sprintf("%s %s: %g rows, %g arrangements", ds, sn, nrow(pm), np))
    scheme_rows[[length(scheme_rows) + 1]] <- data.frame(
      dataset = ds, scheme = sn, n_arrangements = np, n_perm = nrow(pm),
      complete = complete, seed = sch$seed, description = sch$desc)
  }

  glob <- list(); marg <- list(); cond <- list(); fwd <- list(); vpt <- list()
  for (sn in names(schemes)) {
    sch <- schemes[[sn]]
    # ---- global model
    a <- test_p(full, sch)
    stopifnot(abs(a$F[1] - F_hand) < 1e-9 * F_hand)
    nperm <- nrow(attr(a, "F.perm"))
    p_hand <- (sum(attr(a, "F.perm") >= a$F[1] - EPS) + 1) / (nperm + 1)
    stopifnot(abs(p_hand - a[1, "Pr(>F)"]) < 1e-15)
    glob[[sn]] <- data.frame(
      r2 = R2$r.squared, r2_adj = R2$adj.r.squared, F = a$F[1], df_num = a$Df[1],
      df_den = a$Df[2], p_value = a[1, "Pr(>F)"], n_perm = nperm, scheme = sn,
      ss_model = a$SumOfSqs[1], ss_residual = a$SumOfSqs[2], ss_total = full$tot.chi,
      n_negative_eigen = sum(ev < -1e-10), sum_negative_eigen = sum(ev[ev < -1e-10]),
      min_abs_F_perm_gap = min(abs(attr(a, "F.perm") - a$F[1])))

    # ---- marginal: each variable alone
    for (v in vars) {
      m <- dbrda(as.formula(paste("D ~", v)), data = env)
      am <- test_p(m, sch)
      r <- RsquareAdj(m)
      marg[[length(marg) + 1]] <- data.frame(
        variable = v, r2 = r$r.squared, r2_adj = r$adj.r.squared, F = am$F[1],
        df_num = am$Df[1], df_den = am$Df[2], p_value = am[1, "Pr(>F)"],
        n_perm = nrow(attr(am, "F.perm")), scheme = sn)
    }

    # ---- conditional: each variable given all others
    # (1) anova(full, by = "margin"): permutes the raw G for full and reduced fits
    set.seed(sch$seed)
    ab <- anova(full, permutations = sch$ctrl, by = "margin")
    for (v in vars) {
      others <- setdiff(vars, v)
      pm <- dbrda(as.formula(paste("D ~", v, "+ Condition(", paste(others, collapse = " + "), ")")),
                  data = env)
      r <- RsquareAdj(pm)
      # (2) dbrda(D ~ v + Condition(others)): permutes G residualised on the others
      ac <- test_p(pm, sch)
      stopifnot(abs(ac$F[1] - ab[v, "F"]) < 1e-9 * ab[v, "F"])
      stopifnot(abs(ab[v, "SumOfSqs"] / full$tot.chi - r$r.squared) < 1e-12)
      base <- data.frame(variable = v, r2 = ab[v, "SumOfSqs"] / full$tot.chi,
                         r2_adj = r$adj.r.squared, F = ab[v, "F"], df_num = ab[v, "Df"],
                         df_den = ab["Residual", "Df"])
      cond[[length(cond) + 1]] <- cbind(base, p_value = ab[v, "Pr(>F)"],
                                        n_perm = nrow(attr(ab, "F.perm")), scheme = sn,
                                        method = "by_margin")
      cond[[length(cond) + 1]] <- cbind(base, p_value = ac[1, "Pr(>F)"],
                                        n_perm = nrow(attr(ac, "F.perm")), scheme = sn,
                                        method = "condition")
    }

    # ---- forward selection
    set.seed(sch$seed)
    sel <- ordiR2step(dbrda(D ~ 1, data = env), scope = formula(full), Pin = 0.05,
                      R2scope = TRUE, permutations = sch$ctrl, trace = FALSE)
    at <- sel$anova
    r2_all <- RsquareAdj(full)$adj.r.squared
    steps <- if (is.null(at)) character(0) else rownames(at)[rownames(at) != "<All variables>"]
    chosen <- sub("^\\+ ", "", steps)
    nperm_used <- nrow(vegan:::getPermuteMatrix(sch$ctrl, n))
    fwd_rows <- if (length(steps)) data.frame(
      step = seq_along(steps), variable = chosen, r2_adj = at[steps, "R2.adj"],
      F = at[steps, "F"], df_num = at[steps, "Df"], p_value = at[steps, "Pr(>F)"],
      n_perm = nperm_used, selected = TRUE, stop_reason = "") else NULL
    # the step at which ordiR2step stopped (it does not report it): redo its rules
    r2_prev <- if (length(steps)) at[steps[length(steps)], "R2.adj"] else 0
    cand <- setdiff(vars, chosen)
    if (length(cand)) {
      r2c <- sapply(cand, function(v) RsquareAdj(dbrda(as.formula(paste(
        "D ~", paste(c(chosen, v), collapse = " + "))), data = env))$adj.r.squared)
      best <- cand[which.max(r2c)]
      cf <- paste("D ~", best, if (length(chosen)) paste("+ Condition(", paste(chosen, collapse = " + "), ")") else "")
      ast <- test_p(dbrda(as.formula(cf), data = env), sch)
      why <- if (max(r2c) <= r2_prev) "no increase in r2_adj" else if (max(r2c) > r2_all)
        "r2_adj above global model" else if (ast[1, "Pr(>F)"] > 0.05) "p_value > Pin" else "?"
      stopifnot(why != "?")
      fwd_rows <- rbind(fwd_rows, data.frame(
        step = length(steps) + 1, variable = best, r2_adj = max(r2c), F = ast$F[1],
        df_num = ast$Df[1], p_value = ast[1, "Pr(>F)"], n_perm = nrow(attr(ast, "F.perm")),
        selected = FALSE, stop_reason = why))
    }
    fwd[[sn]] <- cbind(fwd_rows, r2_adj_all = r2_all, scheme = sn)

    # ---- F tests of the testable varpart fractions (groups, all, unique fractions)
    gterms <- lapply(spec$groups, function(f) attr(terms(f), "term.labels"))
    allt <- unlist(gterms)
    plus <- function(v) paste(v, collapse = " + ")
    testf <- list()
    for (g in names(gterms)) testf[[g]] <- paste("D ~", plus(gterms[[g]]))
    testf[["all"]] <- paste("D ~", plus(allt))
    for (g in names(gterms)) {
      testf[[paste0("unique:", g)]] <- paste("D ~", plus(gterms[[g]]), "+ Condition(",
                                             plus(setdiff(allt, gterms[[g]])), ")")
    }
    for (fr in names(testf)) {
      fla <- testf[[fr]]
      mm <- dbrda(as.formula(fla), data = env)
      at2 <- test_p(mm, sch)
      r <- RsquareAdj(mm)
      vpt[[length(vpt) + 1]] <- data.frame(
        fraction = fr, formula = fla, r2 = r$r.squared, r2_adj = r$adj.r.squared,
        F = at2$F[1], df_num = at2$Df[1], df_den = at2$Df[2], p_value = at2[1, "Pr(>F)"],
        n_perm = nrow(attr(at2, "F.perm")), scheme = sn)
    }
  }

  # ---- varpart on the distance matrix (dbRDA of the Gower matrix, no permutations)
  vp <- do.call(varpart, c(list(D), unname(spec$groups), list(data = env)))
  stopifnot(vp$part$ordination == "dbrda")
  gn <- names(spec$groups)
  tab <- function(x, what) data.frame(table = what, fraction = rownames(x), df = x$Df,
                                      r2 = as.numeric(x$R.square), r2_adj = x$Adj.R.square,
                                      testable = x$Testable)
  vpr <- rbind(tab(vp$part$fract, "fract"), tab(vp$part$indfract, "indfract"))
  if (!is.null(vp$part$contr1)) vpr <- rbind(vpr, tab(vp$part$contr1, "contr1"))
  # R2 (plain and adjusted) of every union of groups, from the full Gower matrix
  r2g <- function(idx) {
    x <- do.call(cbind, lapply(spec$groups[idx], function(f) model.matrix(f, env)[, -1, drop = FALSE]))
    r2 <- sum(diag(hat(x) %*% G)) / sum(diag(G))
    c(r2, RsquareAdj(r2, n, qr(scale(x))$rank))
  }
  # all fractions from the unions by vegan's algebra; applied to plain R2 too (vegan
  # prints NA for the plain R2 of individual fractions)
  if (length(gn) == 2) {
    fractions <- function(A, B, AB) c(A, B, AB, AB - B, AB - A, A + B - AB, 1 - AB)
    u <- rbind(r2g(1), r2g(2), r2g(1:2))
    members <- c(gn[1], gn[2], paste(gn, collapse = "+"), gn[1], gn[2], paste(gn, collapse = "&"), "")
    kind <- c("group", "group", "all", "unique", "unique", "shared", "residual")
  } else {
    # vegan: [a]=X1|X2+X3 [b]=X2|X1+X3 [c]=X3|X1+X2 [d]=X1&X2 [e]=X2&X3 [f]=X1&X3 [g]=all
    # three; contr1: [a+d]=X1|X3 [a+f]=X1|X2 [b+d]=X2|X3 [b+e]=X2|X1 [c+e]=X3|X1 [c+f]=X3|X2
    fractions <- function(A, B, C, AB, AC, BC, ABC) {
      a <- ABC - BC; b <- ABC - AC; cc <- ABC - AB
      d <- AC + BC - C - ABC; e <- AB + AC - A - ABC; f <- AB + BC - B - ABC
      g <- A - a - d - f
      c(A, B, C, AB, AC, BC, ABC, a, b, cc, d, e, f, g, 1 - ABC,
        AC - C, AB - B, BC - C, AB - A, AC - A, BC - B)
    }
    u <- rbind(r2g(1), r2g(2), r2g(3), r2g(1:2), r2g(c(1, 3)), r2g(2:3), r2g(1:3))
    p <- function(...) paste(gn[c(...)], collapse = "+")
    s <- function(...) paste(gn[c(...)], collapse = "&")
    members <- c(p(1), p(2), p(3), p(1, 2), p(1, 3), p(2, 3), p(1, 2, 3),
                 gn[1], gn[2], gn[3], s(1, 2), s(2, 3), s(1, 3), s(1, 2, 3), "",
                 paste0(gn[1], "|", gn[3]), paste0(gn[1], "|", gn[2]),
                 paste0(gn[2], "|", gn[3]), paste0(gn[2], "|", gn[1]),
                 paste0(gn[3], "|", gn[1]), paste0(gn[3], "|", gn[2]))
    kind <- c(rep("group", 3), rep("groups", 3), "all", rep("unique", 3), rep("shared", 4),
              "residual", rep("partial", 6))
  }
  raw <- do.call(fractions, as.list(u[, 1]))
  adj <- do.call(fractions, as.list(u[, 2]))
  stopifnot(nrow(vpr) == length(raw), max(abs(adj - vpr$r2_adj), na.rm = TRUE) < 1e-12,
            max(abs(raw - vpr$r2), na.rm = TRUE) < 1e-12)
  vpr$r2_computed <- raw
  vpr$members <- members
  vpr$kind <- kind

  dm <- as.matrix(D)
  out(data.frame(sample = rownames(dm), dm, check.names = FALSE), paste0(ds, "_bray.tsv"))
  out(rows(glob), paste0(ds, "_global.tsv"))
  out(rows(marg), paste0(ds, "_marginal.tsv"))
  out(rows(cond), paste0(ds, "_conditional.tsv"))
  out(rows(fwd), paste0(ds, "_forward.tsv"))
  out(vpr[, c("fraction", "table", "kind", "members", "df", "r2", "r2_computed", "r2_adj", "testable")],
      paste0(ds, "_varpart.tsv"))
  out(rows(vpt), paste0(ds, "_varpart_tests.tsv"))
  cat(ds, ": done\n")
}
out(rows(scheme_rows), "permutation_schemes.tsv")
out(versions, "versions.tsv")
