#!/usr/bin/env python3
"""Regenerates clean.jsonl and defects.jsonl for pipelines/ci-gate.yaml (deterministic).

clean.jsonl: 60 short documents in en/de/fr with unique ids, https URLs and no personal data.
defects.jsonl: the same corpus with planted defects, one per gate check (see README.md).
"""
import json
import pathlib
import random

HERE = pathlib.Path(__file__).parent
WORDS = {
    "en": "river mill water wheel stone grain flour village market bridge morning evening farmer "
          "harvest season weather valley hill forest road carriage baker bread miller current "
          "channel sluice gate timber workshop craft history record ledger".split(),
    "de": "Fluss Mühle Wasser Rad Stein Korn Mehl Dorf Markt Brücke Morgen Abend Bauer Ernte "
          "Jahreszeit Wetter Tal Hügel Wald Straße Wagen Bäcker Brot Müller Strömung Kanal "
          "Schleuse Tor Holz Werkstatt Handwerk Geschichte".split(),
    "fr": "rivière moulin eau roue pierre grain farine village marché pont matin soir paysan "
          "récolte saison temps vallée colline forêt route charrette boulanger pain meunier "
          "courant canal écluse porte bois atelier métier histoire".split(),
}


def doc(rng, i, lang):
    n = rng.randint(14, 48)
    words = [rng.choice(WORDS[lang]) for _ in range(n)]
    words[0] = words[0].capitalize()
    text = " ".join(words) + f". Record {i}."
    return {
        "id": f"doc-{i:04d}",
        "text": text,
        "url": f"https://example.org/{lang}/{i}",
        "lang": lang,
    }


def main():
    rng = random.Random(20250603)
    langs = ["en", "de", "fr"]
    clean = [doc(rng, i, langs[i % 3]) for i in range(60)]
    (HERE / "clean.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in clean), encoding="utf-8")

    bad = [dict(d) for d in clean]
    bad[7]["id"] = bad[6]["id"]                      # unique(id)
    bad[12]["text"] = "   "                           # empty_rate(text), range(n_words)
    bad[20]["text"] += " Contact jane.doe@example.com for details."  # sql no_pii_left
    bad[25]["url"] = "ftp://example.org/files/25"     # regex(url)
    bad[31]["lang"] = "xx"                            # accepted_values(lang)
    bad[40]["text"] = bad[41]["text"]                 # duplicate_rate(text)
    (HERE / "defects.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in bad), encoding="utf-8")


if __name__ == "__main__":
    main()
