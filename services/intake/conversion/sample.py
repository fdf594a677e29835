"""A small sample catalogue and conversion standard, every name marked （示例）, so that a
newcomer can try a conversion end to end. No real Zhejiang rule text was found to copy: the
figures follow the shape of published credit-bank rules elsewhere (42 credits a year from 1
March, at most 8 from one outcome, at most 3 certificates toward one programme, 16 hours of
training a credit) and are not policy. Written once, by ``python -m deploy.bootstrap``, when
intake has no standard at all; the provincial centre retires it once real ones exist."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.intake.conversion.models import (
    AuditRecord,
    CatalogueCertificate,
    CatalogueCourse,
    CatalogueInstitution,
    CatalogueProgramme,
    ConversionRule,
    ConversionStandard,
    StandardVersion,
    VersionStatus,
)
from shared.db import utcnow

CODE = "ZJ-SAMPLE"
BY = "bootstrap"

CERTIFICATES = (
    ("SAMPLE-WEB", "Web前端开发职业技能等级证书（示例）", "skill_certificate",
     ["初级", "中级", "高级"]),
    ("SAMPLE-ELEC", "电工职业资格证书（示例）", "vocational_certificate",
     ["五级", "四级", "三级", "二级", "一级"]),
)  # fmt: skip
INSTITUTIONS = (("SAMPLE-OU", "浙江开放大学（示例）"),)
PROGRAMMES = (
    ("SAMPLE-OU-CS", "SAMPLE-OU", "计算机应用技术专科（示例）"),
    ("SAMPLE-OU-ME", "SAMPLE-OU", "机电一体化技术专科（示例）"),
)
COURSES = (
    ("SAMPLE-OU-CS-WEB", "SAMPLE-OU-CS", "网页设计（示例）", Decimal(3)),
    ("SAMPLE-OU-CS-JS", "SAMPLE-OU-CS", "JavaScript程序设计（示例）", Decimal(4)),
    ("SAMPLE-OU-CS-ELECTIVE", "SAMPLE-OU-CS", "专业拓展选修（示例）", Decimal(6)),
    ("SAMPLE-OU-ME-ELEC", "SAMPLE-OU-ME", "电工技术（示例）", Decimal(4)),
)
CAPS: list[dict[str, Any]] = [
    {"kind": "per_year", "limit": "42", "year_starts": "03-01"},
    {"kind": "per_outcome", "limit": "8"},
    {"kind": "certificates", "limit": "3"},
    {"kind": "per_institution", "limit": "105"},
]
RULES: tuple[dict[str, Any], ...] = (
    {"source": "certificate", "catalogue_code": "SAMPLE-WEB", "min_level": "中级",
     "max_age_years": 3, "target_institution": "SAMPLE-OU", "target_programme": "SAMPLE-OU-CS",
     "target_course": "SAMPLE-OU-CS-WEB", "method": "fixed", "credits": Decimal(3)},
    {"source": "certificate", "catalogue_code": "SAMPLE-WEB", "min_level": "高级",
     "max_age_years": 3, "target_institution": "SAMPLE-OU", "target_programme": "SAMPLE-OU-CS",
     "target_course": "SAMPLE-OU-CS-JS", "method": "fixed", "credits": Decimal(4)},
    {"source": "certificate", "catalogue_code": "SAMPLE-ELEC", "min_level": "四级",
     "max_age_years": 5, "target_institution": "SAMPLE-OU", "target_programme": "SAMPLE-OU-ME",
     "target_course": "SAMPLE-OU-ME-ELEC", "method": "fixed", "credits": Decimal(4)},
    {"source": "training", "min_hours": Decimal(16), "max_age_years": 2,
     "target_institution": "SAMPLE-OU", "target_programme": "SAMPLE-OU-CS",
     "target_course": "SAMPLE-OU-CS-ELECTIVE", "method": "per_hours",
     "hours_per_credit": Decimal(16), "max_credits": Decimal(6)},
)  # fmt: skip


def seed(session: Session, today: date) -> bool:
    """Write the sample catalogue and standard (published, in force from 1 January of
    ``today``'s year) if intake has no conversion standard yet; True if written."""
    if session.scalar(select(func.count()).select_from(ConversionStandard)):
        return False
    for code, name, kind, levels in CERTIFICATES:
        session.merge(CatalogueCertificate(code=code, name=name, outcome_kind=kind, levels=levels))
    for code, name in INSTITUTIONS:
        session.merge(CatalogueInstitution(code=code, name=name))
    session.flush()
    for code, institution, name in PROGRAMMES:
        session.merge(CatalogueProgramme(code=code, institution_code=institution, name=name))
    session.flush()
    for code, programme, name, credits in COURSES:
        session.merge(
            CatalogueCourse(code=code, programme_code=programme, name=name, credits=credits)
        )
    standard = ConversionStandard(
        code=CODE,
        name="学分转换标准（示例）",
        publisher_code="ZJ",
        publisher_path="/ZJ/",
        created_by=BY,
    )
    session.add(standard)
    session.flush()
    version = StandardVersion(
        standard_id=standard.id,
        version=1,
        status=VersionStatus.DRAFT,
        effective_from=date(today.year, 1, 1),
        caps=CAPS,
        note="示例标准：仅供试用，数字不代表任何政策。",
        created_by=BY,
    )
    session.add(version)
    session.flush()
    for number, rule in enumerate(RULES, start=1):
        session.add(ConversionRule(version_id=version.id, number=number, **rule))
    session.flush()
    version.status = VersionStatus.PUBLISHED
    version.published_by, version.published_at = BY, utcnow()
    session.add(
        AuditRecord(
            actor_id=None,
            actor_username=BY,
            action="standard.published",
            unit_code="ZJ",
            unit_path="/ZJ/",
            target=CODE,
            detail={"version": 1, "rules": len(RULES), "sample": True},
        )
    )
    return True
