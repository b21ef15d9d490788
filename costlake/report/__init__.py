"""The month-end report: one self-contained HTML page of the marts, with charts."""
