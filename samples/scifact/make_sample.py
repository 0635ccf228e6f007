#!/usr/bin/env python3
"""Build the small SciFact sample used by tests and the README demo.

Selection (deterministic, no randomness):
  * the first 150 queries of queries_train.jsonl, in file order;
  * every corpus document that qrels_train.tsv marks relevant to one of them;
  * the documents that answer the README demo question (DEMO_DOCS: vitamin D and
    bone mineral density), so the demo has on-topic evidence;
  * then the first other documents of corpus.jsonl, in file order, until the
    sample holds 400 documents.
The sampled corpus keeps the source file's order and fields (_id, title, text,
sentences). queries.jsonl and qrels.tsv are restricted to the 150 queries.
claims.jsonl (for `researchops eval claims`) holds, in the file order of
claims_train.jsonl, the first 25 claims whose gold evidence documents are all in
the sample and the first 3 claims without gold evidence, records unchanged.

Usage: python3 make_sample.py [SOURCE_DIR] [OUT_DIR]
  SOURCE_DIR defaults to /work/shared/data/scifact, OUT_DIR to this folder.
"""

import csv
import json
import os
import sys

NUM_QUERIES = 150
NUM_DOCS = 400
NUM_GOLD_CLAIMS = 25
NUM_OTHER_CLAIMS = 3
# Answer "Does vitamin D supplementation affect bone mineral density?" (the README demo).
DEMO_DOCS = ["4462079", "9555784", "19878070"]


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/scifact"
    out = sys.argv[2] if len(sys.argv) > 2 else here

    with open(os.path.join(src, "queries_train.jsonl"), encoding="utf-8") as f:
        queries = [json.loads(line) for line in f if line.strip()]
    queries = queries[:NUM_QUERIES]
    query_ids = {str(q["_id"]) for q in queries}

    qrels = []
    with open(os.path.join(src, "qrels_train.tsv"), encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        for row in reader:
            if row and row[0] in query_ids:
                qrels.append(row)
    relevant = {row[1] for row in qrels}

    with open(os.path.join(src, "corpus.jsonl"), encoding="utf-8") as f:
        corpus = [json.loads(line) for line in f if line.strip()]
    corpus_ids = {str(d["_id"]) for d in corpus}
    missing = relevant - corpus_ids
    if missing:
        sys.exit(f"qrels reference documents missing from the corpus: {sorted(missing)}")
    if len(relevant) > NUM_DOCS:
        sys.exit(f"{len(relevant)} relevant documents exceed the {NUM_DOCS}-document budget")

    selected = set(relevant) | set(DEMO_DOCS)
    for doc in corpus:
        if len(selected) >= NUM_DOCS:
            break
        selected.add(str(doc["_id"]))

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for doc in corpus:
            if str(doc["_id"]) in selected:
                record = {key: doc[key] for key in ("_id", "title", "text", "sentences") if key in doc}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "queries.jsonl"), "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "qrels.tsv"), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(qrels)

    with open(os.path.join(src, "claims_train.jsonl"), encoding="utf-8") as f:
        all_claims = [json.loads(line) for line in f if line.strip()]
    claims = []
    gold_claims = other_claims = 0
    for claim in all_claims:
        evidence = claim.get("evidence") or {}
        if evidence and gold_claims < NUM_GOLD_CLAIMS and all(d in selected for d in evidence):
            gold_claims += 1
            claims.append(claim)
        elif not evidence and other_claims < NUM_OTHER_CLAIMS:
            other_claims += 1
            claims.append(claim)
    with open(os.path.join(out, "claims.jsonl"), "w", encoding="utf-8") as f:
        for claim in claims:
            f.write(json.dumps(claim, ensure_ascii=False) + "\n")

    print(
        f"wrote {len(claims)} claims ({gold_claims} with gold evidence), "
        f"{len(selected)} documents ({len(relevant)} relevant), "
        f"{len(queries)} queries, {len(qrels)} qrels to {out}"
    )


if __name__ == "__main__":
    main()
