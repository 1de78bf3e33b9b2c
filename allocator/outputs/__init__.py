"""What people read of a plan: one module per format, nothing here solves.

- `console`: the plan and a comparison as text tables;
- `csv`, `json`, `excel`: plan.csv / .json / .xlsx and comparison.csv / .json / .xlsx;
- `charts`, `comparison_charts`: matplotlib figures (PNG, SVG);
- `html`: the finance report and the comparison report (self-contained HTML);
- `folders`: a plan folder or a comparison folder, every format at once;
- `atomic`: how files and folders are written so that none is lost half-way.

Import the module you need (`from allocator.outputs.folders import write_plan_folder`):
this package imports nothing itself, so `allocator --help` stays fast.
"""
