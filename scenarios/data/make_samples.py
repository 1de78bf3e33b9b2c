"""Write the synthetic sample exports of this folder (Meta, Google Ads, LinkedIn, TikTok)
and truth.yaml, the curves they were generated from.

    python scenarios/data/make_samples.py
"""

from pathlib import Path

from allocator.fit.synthetic import write_samples

if __name__ == "__main__":
    for path in write_samples(Path(__file__).resolve().parent):
        print(f"wrote {path}")
