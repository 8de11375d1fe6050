"""Courses: programs, courses, runs, enrollments, grades and certificates of MITx Online."""

from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "courses"
