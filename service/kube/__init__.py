"""KUBE (kelompok usaha bersama): joint business groups of families and their capital grants."""
