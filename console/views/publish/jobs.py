"""Bulk publish jobs: the list, one job's progress, cancelling."""

from __future__ import annotations

from console.apitypes import publish as api
from console.openapi import described
from console.params import int_param
from console.views.publish.common import published_resource
from console.web import Ctx, Result, writes
from streams.policies import VIEW
from streams.publish import actions


@described(query=api.JobsQuery, answers={200: api.JobList})
async def jobs_list(ctx: Ctx) -> Result:
    jobs = await actions.recent_jobs(int_param(ctx.query, "limit", 50, minimum=1, maximum=500) or 50)
    jobs = [j for j in jobs if ctx.may(VIEW, published_resource(j.kind), j.target, j.cluster)]
    return Result({"items": [j.as_api() for j in jobs], "total": len(jobs)}, page={"jobs": jobs})


@described(answers={200: api.Job})
async def job_detail(ctx: Ctx) -> Result:
    await actions.expire_stale_jobs()
    job = await actions.get_job(ctx.args["job"])
    return Result(job.as_api(), page={"job": job})


@described(answers={202: api.JobCancelled}, errors=[409])
@writes(actions.JOB_CANCEL, needs="publish", stops=True)
async def job_cancel(ctx: Ctx) -> Result:
    job = await actions.do_cancel_job(ctx.user, ctx.args["job"])
    return Result({**job.as_api(), "message": f"Job {job.pk} is being cancelled."}, status=202)
