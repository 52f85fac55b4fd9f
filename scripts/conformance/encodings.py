#!/usr/bin/env python3
"""Short legacy-encoded files (1-20 rows of CJK or accented names) under several locales:
how many checkuser reads right. Usage: encodings.py path/to/checkuser"""
import subprocess, os, sys, tempfile
texts = {
 'gbk': ['王丽','张伟','北京华信科技有限公司','李'],
 'big5': ['陳美玲','陳大文','臺北市信義區','李'],
 'shift_jis': ['田中','山田太郎','東京都千代田区','佐藤'],
 'euc-kr': ['김민수','서울특별시','이','박지훈'],
 'windows-1252': ['Müller GmbH','Jürgen Müller','José','Café Crème'],
}
locales = ['C.UTF-8','zh_CN.UTF-8','zh_TW.UTF-8','ja_JP.UTF-8','ko_KR.UTF-8','de_DE.UTF-8','ru_RU.UTF-8']
bin_=sys.argv[1] if len(sys.argv)>1 else 'target/release/checkuser'
tmp=tempfile.mkdtemp()
os.chdir(tmp)
bad=[]; total=0
for enc, names in texts.items():
  for rows in [1,2,5,20]:
    for k in range(len(names)):
      lines=['name,email']+[f'{names[(k+i)%len(names)]},a{i}@b.com' for i in range(rows)]
      data=('\n'.join(lines)+'\n').encode(enc)
      open('f.csv','wb').write(data)
      for loc in locales:
        env=dict(os.environ); env.pop('LC_ALL',None); env.pop('LC_CTYPE',None); env['LANG']=loc; env['HOME']=tmp
        subprocess.run([os.path.abspath(bin_) if os.path.exists(bin_) else bin_,'validate','f.csv','--check','email=#2','-o','o.csv','-q'],env=env,check=True,capture_output=True)
        got=open('o.csv',encoding='utf-8').read().splitlines()[1].split(',')[0]
        total+=1
        if got!=names[k%len(names)]:
          bad.append((enc,rows,names[k],loc,got))
print(total, 'cases,', len(bad), 'wrong')
for b in bad[:40]: print(b)
